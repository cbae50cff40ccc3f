//! The benchmark policy, shared by `benches/rules.rs` and `examples/casl_compare.rs`: "the
//! owner can read and write everything; everyone else reads `title`, `status` and `tags`".

use serde_json::{json, Value};

/// Where the rules live.
pub const SERVICE: &str = "mongodb-atlas";
/// Database of the benchmark collection.
pub const DATABASE: &str = "bench";
/// The benchmark collection.
pub const COLLECTION: &str = "items";

/// The fields everyone may read.
pub const PUBLIC_FIELDS: [&str; 3] = ["title", "status", "tags"];

/// How the policy is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One role: public fields by `fields`, the rest by `additional_fields` when the user owns
    /// the document.
    OneRole,
    /// `owner` (read and write everything when `owner` is the user) then `reader` (public
    /// fields), preceded by `extra` roles that never apply to the measured users but must be
    /// tried on every document (each reads the document).
    Roles { extra: usize },
}

impl Shape {
    /// The shape with `count` roles in total (1 is the one-role form).
    pub fn with_roles(count: usize) -> Shape {
        if count <= 1 {
            Shape::OneRole
        } else {
            Shape::Roles { extra: count - 2 }
        }
    }
}

fn public_fields() -> Value {
    let mut fields = serde_json::Map::new();
    for name in PUBLIC_FIELDS {
        fields.insert(name.to_owned(), json!({"read": true}));
    }
    Value::Object(fields)
}

/// The collection's `rules.json`.
pub fn rules_json(shape: Shape) -> Value {
    match shape {
        Shape::OneRole => json!({"roles": [{
            "name": "everyone",
            "apply_when": {},
            "fields": public_fields(),
            "additional_fields": {
                "read": {"owner": "%%user.id"},
                "write": {"owner": "%%user.id"}
            }
        }]}),
        Shape::Roles { extra } => {
            let mut roles: Vec<Value> = (0..extra)
                .map(|index| {
                    // Reads the document and the user, so it is decided per document; the
                    // region never exists, so it never applies.
                    json!({
                        "name": format!("auditor-{index}"),
                        "apply_when": {"owner": "%%user.id", "region": format!("nowhere-{index}")},
                        "read": true,
                        "write": true
                    })
                })
                .collect();
            roles.push(json!({
                "name": "owner",
                "apply_when": {"owner": "%%user.id"},
                "read": true,
                "write": true
            }));
            roles.push(json!({
                "name": "reader",
                "apply_when": {},
                "fields": public_fields()
            }));
            json!({ "roles": roles })
        }
    }
}
