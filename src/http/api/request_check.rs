//! What the admin API accepts, read from its own OpenAPI document: the query parameters of each
//! operation, and the schema of its JSON body.
//!
//! poem-openapi refuses a body it cannot parse with a message that does not always say which field
//! is wrong (a malformed enum value, a missing required field). When that happens, the refused
//! body is walked against the documented schema to name the first field that breaks it, the way
//! the API names fields elsewhere (`profile/given_name`, `scopes/2`). Unknown query parameters are
//! refused before the operation runs: `GET /users?username=…` on an operation without that filter
//! must not quietly list everyone.

use serde_json::Value;

/// One documented operation's inputs.
#[derive(Debug, Default, Clone)]
pub struct OperationInputs {
    /// The names of its query parameters.
    pub query: Vec<String>,
    /// The schema of its JSON body (usually a `$ref`), if it takes one.
    pub body: Option<Value>,
}

impl OperationInputs {
    /// Reads an operation object of an OpenAPI document.
    pub fn from_operation(operation: &Value) -> Self {
        let query = operation
            .get("parameters")
            .and_then(Value::as_array)
            .map(|params| {
                params
                    .iter()
                    .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
                    .filter_map(|p| p.get("name").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let body = operation
            .get("requestBody")
            .and_then(|b| b.get("content"))
            .and_then(Value::as_object)
            .and_then(|content| content.values().next())
            .and_then(|media| media.get("schema"))
            .cloned();
        Self { query, body }
    }

    /// The query parameter names of `query` (a raw query string) this operation does not take,
    /// in order, each once.
    pub fn unknown_query(&self, query: &str) -> Vec<String> {
        let mut unknown: Vec<String> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let raw = pair.split_once('=').map_or(pair, |(name, _)| name);
            let name =
                crate::engine::oauth2::params::form_decode(raw).unwrap_or_else(|| raw.to_owned());
            if !self.query.contains(&name) && !unknown.contains(&name) {
                unknown.push(name);
            }
        }
        unknown
    }
}

/// The first field of `value` that does not fit `schema` (resolved in `doc`), with what is wrong:
/// `("type", "must be one of: confidential, public")`. `None` when it fits.
pub fn first_violation(doc: &Value, schema: &Value, value: &Value) -> Option<(String, String)> {
    check(doc, schema, value, "", 0)
}

/// Deeper than any document of ours nests; guards against a cyclic `$ref`.
const MAX_DEPTH: usize = 32;

fn resolve<'a>(doc: &'a Value, schema: &'a Value, depth: usize) -> Option<&'a Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.strip_prefix("#/components/schemas/")?;
        let target = doc.get("components")?.get("schemas")?.get(name)?;
        return resolve(doc, target, depth + 1);
    }
    // poem-openapi documents a described reference as `allOf: [{$ref}, {description}]`.
    if let Some(first) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .and_then(|all| all.first())
        && schema.get("type").is_none()
    {
        return resolve(doc, first, depth + 1);
    }
    Some(schema)
}

fn join(path: &str, part: &str) -> String {
    if path.is_empty() {
        part.to_owned()
    } else {
        format!("{path}/{part}")
    }
}

fn check(
    doc: &Value,
    schema: &Value,
    value: &Value,
    path: &str,
    depth: usize,
) -> Option<(String, String)> {
    let schema = resolve(doc, schema, depth)?;
    let here = || {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }
    };
    let kind = schema.get("type").and_then(Value::as_str);
    let is_object = kind == Some("object") || schema.get("properties").is_some();
    if is_object {
        let Some(fields) = value.as_object() else {
            return Some((here(), "must be an object".to_owned()));
        };
        let properties = schema.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for name in &required {
            if fields.get(*name).is_none_or(Value::is_null) {
                return Some((join(path, name), "is required".to_owned()));
            }
        }
        // Free-form objects (`details`) document no properties and take anything.
        let properties = properties?;
        for (name, field) in fields {
            let Some(field_schema) = properties.get(name) else {
                let known: Vec<&str> = properties.keys().map(String::as_str).collect();
                return Some((
                    join(path, name),
                    format!("unknown field (known: {})", known.join(", ")),
                ));
            };
            if field.is_null() {
                continue;
            }
            if let Some(found) = check(doc, field_schema, field, &join(path, name), depth + 1) {
                return Some(found);
            }
        }
        return None;
    }
    match kind {
        Some("array") => {
            let Some(items) = value.as_array() else {
                return Some((here(), "must be an array".to_owned()));
            };
            let item_schema = schema.get("items")?;
            items.iter().enumerate().find_map(|(i, item)| {
                check(
                    doc,
                    item_schema,
                    item,
                    &join(path, &i.to_string()),
                    depth + 1,
                )
            })
        }
        Some("string") => {
            let Some(text) = value.as_str() else {
                return Some((here(), "must be a string".to_owned()));
            };
            let allowed: Vec<&str> = schema
                .get("enum")
                .and_then(Value::as_array)
                .map(|e| e.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            (!allowed.is_empty() && !allowed.contains(&text))
                .then(|| (here(), format!("must be one of: {}", allowed.join(", "))))
        }
        Some("integer") => (value.as_i64().is_none() && value.as_u64().is_none())
            .then(|| (here(), "must be an integer".to_owned())),
        Some("number") => (!value.is_number()).then(|| (here(), "must be a number".to_owned())),
        Some("boolean") => {
            (!value.is_boolean()).then(|| (here(), "must be true or false".to_owned()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"components": {"schemas": {
            "Kind": {"type": "string", "enum": ["confidential", "public"]},
            "Name": {"type": "object", "properties": {"given": {"type": "string"}}},
            "Req": {"type": "object", "required": ["id", "type"], "properties": {
                "id": {"type": "string"},
                "type": {"allOf": [{"$ref": "#/components/schemas/Kind"}, {"description": "x"}]},
                "name": {"allOf": [{"$ref": "#/components/schemas/Name"}, {"description": "y"}]},
                "uris": {"type": "array", "items": {"type": "string"}},
                "limit": {"type": "integer"},
                "details": {"type": "object"}
            }}
        }}})
    }

    fn violation(body: Value) -> Option<(String, String)> {
        first_violation(&doc(), &json!({"$ref": "#/components/schemas/Req"}), &body)
    }

    #[test]
    fn names_the_field() {
        assert_eq!(violation(json!({"id": "a", "type": "public"})), None);
        let (field, message) = violation(json!({"id": "a", "type": "pub"})).unwrap();
        assert_eq!(field, "type");
        assert_eq!(message, "must be one of: confidential, public");
        assert_eq!(violation(json!({"id": "a"})).unwrap().0, "type");
        assert_eq!(
            violation(json!({"id": "a", "type": "public", "name": {"given_name": "x"}}))
                .unwrap()
                .0,
            "name/given_name"
        );
        assert_eq!(
            violation(json!({"id": "a", "type": "public", "uris": ["x", 3]})).unwrap(),
            ("uris/1".to_owned(), "must be a string".to_owned())
        );
        assert_eq!(
            violation(json!({"id": "a", "type": "public", "password": "x"}))
                .unwrap()
                .0,
            "password"
        );
        assert_eq!(
            violation(json!({"id": "a", "type": "public", "details": {"anything": 1}})),
            None
        );
        assert_eq!(violation(json!([1])).unwrap().0, "body");
    }

    #[test]
    fn query_names() {
        let op = OperationInputs {
            query: vec!["limit".into(), "email".into()],
            body: None,
        };
        assert_eq!(
            op.unknown_query("limit=1&username=ada&x&username=b"),
            ["username", "x"]
        );
        assert!(op.unknown_query("email=a%40b").is_empty());
    }
}
