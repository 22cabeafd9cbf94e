//! Screens, their enrolment codes, and API tokens.

use super::{encode, EnrollCode, Result, ScreenRecord, Store, StoreError, TokenRecord};

/// The meta key of a gate's display name (`PUT /api/v1/gates/{gate}`).
pub fn gate_name_key(gate: &str) -> String {
    format!("gate_name:{gate}")
}

impl Store {
    /// The display name an administrator gave `gate`, if any.
    pub fn gate_name(&self, gate: &str) -> Result<Option<String>> {
        self.meta_get(&gate_name_key(gate))
    }

    // ---- screens and enrolment ----

    /// One screen.
    pub fn screen(&self, id: &str) -> Result<Option<ScreenRecord>> {
        Self::get(&self.screens, "screen", id)
    }

    /// All screens.
    pub fn screens(&self) -> Result<Vec<ScreenRecord>> {
        Self::all(&self.screens, "screen")
    }

    /// Registers a screen with its first enrolment code, atomically (fails if the id exists).
    pub async fn create_screen(&self, s: &ScreenRecord, code: &EnrollCode) -> Result<()> {
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        use sled::Transactional as _;
        let res = (&self.screens, &self.codes).transaction(|(screens, codes)| {
            if screens.get(s.id.as_bytes())?.is_some() {
                return Err(ConflictableTransactionError::Abort(()));
            }
            screens.insert(s.id.as_bytes(), encode(s))?;
            codes.insert(s.id.as_bytes(), encode(code))?;
            Ok(())
        });
        match res {
            Ok(()) => {
                self.screen_changed(&s.id);
                self.flush().await
            }
            Err(TransactionError::Abort(())) => Err(StoreError::Exists {
                what: "screen",
                id: s.id.clone(),
            }),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Replaces a screen record.
    pub async fn put_screen(&self, s: &ScreenRecord) -> Result<()> {
        self.screens.insert(s.id.as_bytes(), encode(s))?;
        self.screen_changed(&s.id);
        self.flush().await
    }

    /// Removes a screen and its enrolment code; true if it existed.
    pub async fn delete_screen(&self, id: &str) -> Result<bool> {
        let had = self.screens.remove(id)?.is_some();
        self.screen_changed(id);
        self.codes.remove(id)?;
        self.flush().await?;
        Ok(had)
    }

    /// Stores an enrolment code (replacing the screen's earlier one).
    pub async fn put_enroll_code(&self, code: &EnrollCode) -> Result<()> {
        self.put(&self.codes, &code.screen, code).await
    }

    /// The pending enrolment code of a screen.
    pub fn enroll_code(&self, screen: &str) -> Result<Option<EnrollCode>> {
        Self::get(&self.codes, "enrolment code", screen)
    }

    /// Consumes `code` if it is still the pending one; false if it was consumed meanwhile.
    pub async fn consume_enroll_code(&self, code: &EnrollCode) -> Result<bool> {
        let ok = self
            .codes
            .compare_and_swap(&code.screen, Some(encode(code)), None as Option<Vec<u8>>)?
            .is_ok();
        self.flush().await?;
        Ok(ok)
    }

    // ---- tokens ----

    /// One token record.
    pub fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        Self::get(&self.tokens, "token", id)
    }

    /// All tokens.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>> {
        Self::all(&self.tokens, "token")
    }

    /// Stores a token record.
    pub async fn put_token(&self, t: &TokenRecord) -> Result<()> {
        self.put(&self.tokens, &t.id, t).await
    }
}
