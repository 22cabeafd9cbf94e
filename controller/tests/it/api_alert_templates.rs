//! `/api/v1/alert-templates`: the built-in emergency texts are served to every role, an admin
//! edits, adds and deletes them (kept across a restart, in the action log), operators and
//! auditors cannot, and a bad template is refused naming the field.

use crate::api_support;

use api_support::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_templates_are_served_and_edited_by_admins_only() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let operator = ctl.token("operator").await;
    let auditor = ctl.token("auditor").await;

    // Built in: border closure, flood, weather, landslide, each in vi, en, zh-Hans and hmn.
    let (s, list) = ctl
        .req("GET", "/api/v1/alert-templates", Some(&auditor), None)
        .await;
    assert_eq!(s, 200, "{list}");
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["dong-cua-khau", "lu-lut", "thoi-tiet", "sat-lo"]);
    for t in list.as_array().unwrap() {
        let langs: Vec<&str> = t["text"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["lang"].as_str().unwrap())
            .collect();
        assert_eq!(langs, ["vi", "en", "zh-Hans", "hmn"], "{t}");
    }

    let flood = json!({"name_vi": "Lũ quét Bát Xát", "name_en": "Flash flood in Bát Xát", "hours": 6,
        "text": [{"lang": "vi", "text": "Lũ quét tại Bát Xát: không qua ngầm tràn."},
                 {"lang": "en", "text": "Flash flood in Bát Xát: do not cross flooded fords."}]});
    for tok in [&operator, &auditor] {
        let (s, v) = ctl
            .req(
                "PUT",
                "/api/v1/alert-templates/lu-lut",
                Some(tok),
                Some(flood.clone()),
            )
            .await;
        assert_eq!(s, 403, "only admins edit templates: {v}");
    }
    let (s, v) = ctl
        .admin("PUT", "/api/v1/alert-templates/lu-lut", flood.clone())
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = ctl
        .admin(
            "PUT",
            "/api/v1/alert-templates/ret-dam",
            json!({"name_vi": "Rét đậm", "name_en": "Severe cold", "hours": 24,
            "text": [{"lang": "vi", "text": "Rét đậm, rét hại: giữ ấm."}]}),
        )
        .await;
    assert_eq!(s, 201, "a new template is added: {v}");
    let (s, v) = ctl
        .admin("DELETE", "/api/v1/alert-templates/sat-lo", Value::Null)
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = ctl
        .admin("DELETE", "/api/v1/alert-templates/sat-lo", Value::Null)
        .await;
    assert_eq!(s, 404);

    // Refused, naming the field; nothing changes.
    for (body, field) in [
        (
            json!({"name_vi": "", "name_en": "x", "hours": 1, "text": [{"lang": "vi", "text": "x"}]}),
            "name_vi",
        ),
        (
            json!({"name_vi": "x", "name_en": "x", "hours": 0, "text": [{"lang": "vi", "text": "x"}]}),
            "hours",
        ),
        (
            json!({"name_vi": "x", "name_en": "x", "hours": 1, "text": []}),
            "text",
        ),
        (
            json!({"name_vi": "x", "name_en": "x", "hours": 1, "text": [{"lang": "vi", "text": "x"}, {"lang": "VI", "text": "y"}]}),
            "text[1].lang",
        ),
        (
            json!({"name_vi": "x", "name_en": "x", "hours": 1, "text": [{"lang": "not a tag", "text": "x"}]}),
            "text[0].lang",
        ),
        (
            json!({"name_vi": "x", "name_en": "x", "hours": 1, "text": [{"lang": "vi", "text": "  "}]}),
            "text[0].text",
        ),
    ] {
        let (s, v) = ctl
            .admin("PUT", "/api/v1/alert-templates/lu-lut", body)
            .await;
        assert_eq!((s, v["field"].as_str()), (400, Some(field)), "{v}");
    }
    let (s, v) = ctl
        .admin("PUT", "/api/v1/alert-templates/Bad Id", flood.clone())
        .await;
    assert_eq!(s, 400, "{v}");

    let (_, list) = ctl
        .req("GET", "/api/v1/alert-templates", Some(&operator), None)
        .await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["dong-cua-khau", "lu-lut", "thoi-tiet", "ret-dam"]);
    assert_eq!(list[1]["name_vi"], "Lũ quét Bát Xát");
    assert_eq!(list[1]["hours"], 6);

    let (_, actions) = ctl
        .req("GET", "/api/v1/actions", Some(&auditor), None)
        .await;
    let logged: Vec<&str> = actions
        .as_array()
        .or_else(|| actions["actions"].as_array())
        .expect("action list")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .filter(|a| a.starts_with("alert_template."))
        .collect();
    assert_eq!(logged.len(), 3, "{actions}");
}
