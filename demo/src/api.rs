//! The controller's HTTP API over loopback: the demo loads its content as an operator would.

use super::*;

/// A small client of the controller's HTTP API, authenticated with the admin token.
pub(crate) struct Api {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    token: String,
}

impl Api {
    pub(crate) fn new(base: String, token: String) -> Result<Api, DemoError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| DemoError::Api {
                what: "building the HTTP client".into(),
                message: e.to_string(),
            })?;
        Ok(Api {
            client,
            base,
            token,
        })
    }

    /// Sends a request; returns the status and the body as JSON (or as a JSON string when it
    /// is not JSON).
    pub(crate) async fn send(
        &self,
        what: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, Value), DemoError> {
        let fail = |e: reqwest::Error| DemoError::Api {
            what: what.to_string(),
            message: e.to_string(),
        };
        let resp = req.bearer_auth(&self.token).send().await.map_err(fail)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(fail)?;
        let v = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok((status, v))
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET; `None` on 404.
    pub(crate) async fn get(&self, what: &str, path: &str) -> Result<Option<Value>, DemoError> {
        let (s, v) = self.send(what, self.client.get(self.url(path))).await?;
        match s {
            200 => Ok(Some(v)),
            404 => Ok(None),
            _ => Err(api_err(what, s, &v)),
        }
    }

    /// POST JSON; any 2xx is success.
    pub(crate) async fn post(
        &self,
        what: &str,
        path: &str,
        body: &Value,
    ) -> Result<Value, DemoError> {
        let req = self
            .client
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).expect("JSON serializes"));
        let (s, v) = self.send(what, req).await?;
        if (200..300).contains(&s) {
            Ok(v)
        } else {
            Err(api_err(what, s, &v))
        }
    }

    /// The receipts of `screen` that started at or after `from`, as parsed JSONL rows.
    /// `Ok(None)` when the controller has no receipts API.
    pub(crate) async fn receipts(
        &self,
        screen: &str,
        from: Option<&str>,
    ) -> Result<Option<Vec<Value>>, DemoError> {
        let mut q = vec![("screen", screen), ("format", "jsonl"), ("limit", "1000")];
        if let Some(f) = from {
            q.push(("from", f));
        }
        let what = "reading receipts";
        let req = self.client.get(self.url("/api/v1/receipts")).query(&q);
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| DemoError::Api {
                what: what.into(),
                message: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| DemoError::Api {
            what: what.into(),
            message: e.to_string(),
        })?;
        match status {
            200 => Ok(Some(
                body.lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect(),
            )),
            404 | 405 => Ok(None),
            _ => Err(api_err(
                what,
                status,
                &serde_json::from_str(&body).unwrap_or(Value::String(body)),
            )),
        }
    }
}

pub(crate) fn api_err(what: &str, status: u16, v: &Value) -> DemoError {
    let message = v
        .get("message")
        .and_then(Value::as_str)
        .map(|m| format!("HTTP {status}: {m}"))
        .unwrap_or_else(|| format!("HTTP {status}: {v}"));
    DemoError::Api {
        what: what.to_string(),
        message,
    }
}

/// Loads the sample content through the API; returns the enrolment codes of the screens
/// registered now (screens that already existed keep their enrolment).
pub(crate) async fn load_content(
    api: &Api,
    cat: &Catalogue,
) -> Result<HashMap<String, String>, DemoError> {
    let mut uploaded = 0;
    for (m, bytes) in &cat.media {
        let path = format!("/api/v1/media/{}", m.sha256);
        if api.get("looking up media", &path).await?.is_some() {
            continue;
        }
        let duration = m.duration_ms.to_string();
        let req = api
            .client
            .post(api.url("/api/v1/media"))
            .query(&[
                ("kind", m.kind.as_str()),
                ("lang", m.lang.as_str()),
                ("title", m.title.as_str()),
                ("duration_ms", duration.as_str()),
            ])
            .header(reqwest::header::CONTENT_TYPE, m.mime.as_str())
            .body(*bytes);
        let what = format!("uploading {}", m.file);
        let (s, v) = api.send(&what, req).await?;
        if !(200..300).contains(&s) {
            return Err(api_err(&what, s, &v));
        }
        if v.get("sha256").and_then(Value::as_str) != Some(m.sha256.as_str()) {
            return Err(DemoError::Api {
                what,
                message: format!("the controller stored it under another hash: {v}"),
            });
        }
        uploaded += 1;
    }
    info!(uploaded, total = cat.media.len(), "demo media in place");

    for (id, name, messages) in PLAYLISTS {
        let path = format!("/api/v1/playlists/{id}");
        if api.get("looking up a playlist", &path).await?.is_some() {
            continue;
        }
        let items = messages
            .iter()
            .map(|m| item(cat, m))
            .collect::<Result<Vec<_>, _>>()?;
        api.post(
            &format!("creating playlist {id}"),
            "/api/v1/playlists",
            &json!({"id": id, "name": name, "items": items}),
        )
        .await?;
    }

    let mut codes = HashMap::new();
    for s in &SCREENS {
        let path = format!("/api/v1/screens/{}", s.id);
        if api.get("looking up a screen", &path).await?.is_some() {
            continue;
        }
        let v = api
            .post(
                &format!("registering screen {}", s.id),
                "/api/v1/screens",
                &json!({"id": s.id, "name": s.name, "gate": s.gate,
                        "languages": s.languages, "timezone": TIMEZONE}),
            )
            .await?;
        let code = v
            .get("enrollment_code")
            .and_then(Value::as_str)
            .ok_or_else(|| DemoError::Api {
                what: format!("registering screen {}", s.id),
                message: "the answer has no enrollment_code".into(),
            })?;
        codes.insert(s.id.to_string(), code.to_string());
    }

    for sched in schedules(cat)? {
        let id = sched["id"].as_str().unwrap_or_default();
        let path = format!("/api/v1/schedules/{id}");
        if api.get("looking up a schedule", &path).await?.is_some() {
            continue;
        }
        api.post(
            &format!("creating schedule {id}"),
            "/api/v1/schedules",
            &sched,
        )
        .await?;
    }

    Ok(codes)
}
