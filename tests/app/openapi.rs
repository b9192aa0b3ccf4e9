//! The committed OpenAPI document must be what the code serves; the served one must be valid.

/// Fails when `openapi/authx.json` is stale: regenerate it with
/// `cargo run -- openapi --output openapi/authx.json`.
#[test]
fn committed_document_is_current() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/openapi/authx.json"
    ))
    .expect(
        "openapi/authx.json exists (generate it with `authx openapi --output openapi/authx.json`)",
    );
    let current = authx::http::api::spec_json() + "\n";
    assert!(
        committed == current,
        "openapi/authx.json is stale: run `cargo run -- openapi --output openapi/authx.json` and commit it"
    );
}

/// Every operation has an explicit operation id, a tag, and documents its error answers as
/// problem documents.
#[test]
fn every_operation_is_documented() {
    let doc: serde_json::Value = serde_json::from_str(&authx::http::api::spec_json()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            assert!(op["operationId"].is_string(), "{at}: operationId");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{at}: tag"
            );
            if path.starts_with("/api/v1") {
                let responses = op["responses"].as_object().unwrap();
                for code in ["400", "401", "403", "404", "500"] {
                    let r = &responses[code];
                    assert!(
                        r["content"]["application/problem+json"].is_object(),
                        "{at}: {code} documented as problem+json"
                    );
                }
                assert!(
                    op["security"].as_array().is_some_and(|s| !s.is_empty()),
                    "{at}: security scheme"
                );
            }
        }
    }
}
