//! The alert templates an admin edited: one list in the `meta` tree (`None` until the first
//! edit; the API then serves the built-in set).

use super::{decode, encode, AlertTemplate, Result, Store};

const KEY: &str = "alert_templates";

impl Store {
    /// The stored alert templates, `None` if no admin has stored any yet.
    pub fn alert_templates(&self) -> Result<Option<Vec<AlertTemplate>>> {
        match self.meta.get(KEY)? {
            Some(v) => Ok(Some(decode("alert templates", &v)?)),
            None => Ok(None),
        }
    }

    /// Stores the whole list of alert templates.
    pub async fn put_alert_templates(&self, list: &[AlertTemplate]) -> Result<()> {
        self.meta.insert(KEY, encode(&list))?;
        self.flush().await
    }
}
