//! Database and collection names, validated once with MongoDB's rules.

use std::fmt;

use crate::error::{Result, StoreError};

/// Longest database name MongoDB accepts, in bytes.
const MAX_DATABASE_BYTES: usize = 64;
/// Longest `db.collection` MongoDB accepts, in bytes.
const MAX_NAMESPACE_BYTES: usize = 255;

/// A validated `(database, collection)` pair. The only way to build one is [`Namespace::new`],
/// so every store method receives a name MongoDB would accept.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace {
    database: String,
    collection: String,
}

impl Namespace {
    /// Validates both names: the database is non-empty, at most 64 bytes, without
    /// `/ \ . " $`, space or NUL; the collection is non-empty, without `$` or NUL, does not start
    /// with `system.`, and `db.collection` is at most 255 bytes.
    pub fn new(database: &str, collection: &str) -> Result<Namespace> {
        validate_database(database)?;
        let full = format!("{database}.{collection}");
        let reason = if collection.is_empty() {
            Some("the collection name is empty")
        } else if collection.contains('$') {
            Some("collection names cannot contain `$`")
        } else if collection.contains('\0') {
            Some("collection names cannot contain NUL")
        } else if collection.starts_with("system.") {
            Some("collection names cannot start with `system.`")
        } else if full.len() > MAX_NAMESPACE_BYTES {
            Some("the namespace is longer than 255 bytes")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(StoreError::InvalidNamespace {
                name: full,
                reason: reason.to_owned(),
            });
        }
        Ok(Namespace {
            database: database.to_owned(),
            collection: collection.to_owned(),
        })
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The collection name.
    pub fn collection(&self) -> &str {
        &self.collection
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.database, self.collection)
    }
}

/// Checks a database name alone (for `list_collections` and `drop_database`).
pub fn validate_database(database: &str) -> Result<()> {
    let reason = if database.is_empty() {
        Some("the database name is empty".to_owned())
    } else if let Some(bad) = database
        .chars()
        .find(|c| matches!(c, '/' | '\\' | '.' | '"' | '$' | ' ' | '\0'))
    {
        Some(format!(
            "database names cannot contain `{}`",
            bad.escape_default()
        ))
    } else if database.len() > MAX_DATABASE_BYTES {
        Some("the database name is longer than 64 bytes".to_owned())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(StoreError::InvalidNamespace {
            name: database.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        let ns = Namespace::new("app", "users.archive").unwrap();
        assert_eq!(ns.to_string(), "app.users.archive");
    }

    #[test]
    fn rejects_what_mongodb_rejects() {
        for (db, coll) in [
            ("", "c"),
            ("a.b", "c"),
            ("a b", "c"),
            ("a$", "c"),
            ("a/b", "c"),
            ("a\\b", "c"),
            ("a\"b", "c"),
            ("a\0", "c"),
            (&"d".repeat(65), "c"),
            ("db", ""),
            ("db", "a$b"),
            ("db", "a\0b"),
            ("db", "system.users"),
            ("db", &"c".repeat(253)),
        ] {
            let error = Namespace::new(db, coll).unwrap_err();
            assert_eq!(error.code(), 73, "{db:?} {coll:?}");
        }
        assert!(Namespace::new("db", &"c".repeat(252)).is_ok());
    }
}
