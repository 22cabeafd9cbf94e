//! The alert templates an admin edited (one list in the `meta` tree); the built-in set of
//! [`crate::alert_templates::defaults`] until the first edit.

use super::{decode, encode, Result, Store};
use crate::alert_templates::{defaults, AlertTemplate};

const KEY: &str = "alert_templates";

impl Store {
    /// The alert templates: the stored list, else the built-in set.
    pub fn alert_templates(&self) -> Result<Vec<AlertTemplate>> {
        match self.meta.get(KEY)? {
            Some(v) => decode("alert templates", &v),
            None => Ok(defaults()),
        }
    }

    /// Stores the whole list of alert templates.
    pub async fn put_alert_templates(&self, list: &[AlertTemplate]) -> Result<()> {
        self.meta.insert(KEY, encode(&list))?;
        self.flush().await
    }
}
