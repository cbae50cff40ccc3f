//! Dotted field paths (`a.b.0.c`), parsed once and validated.

use bson::{Bson, Document};

use crate::error::{MqlError, Result};

/// A dotted path split into its components. Empty components are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    dotted: String,
    parts: Vec<String>,
}

impl FieldPath {
    /// Parses `dotted`; fails on an empty path or an empty component (`a..b`, `.a`, `a.`).
    pub fn parse(dotted: &str) -> Result<FieldPath> {
        if dotted.is_empty() {
            return Err(MqlError::bad_value("empty field path"));
        }
        let parts: Vec<String> = dotted.split('.').map(str::to_owned).collect();
        if parts.iter().any(String::is_empty) {
            return Err(MqlError::bad_value(format!(
                "field path `{dotted}` has an empty component"
            )));
        }
        Ok(FieldPath {
            dotted: dotted.to_owned(),
            parts,
        })
    }

    /// The path as written, with dots.
    pub fn as_str(&self) -> &str {
        &self.dotted
    }

    /// The components.
    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// The first component.
    pub fn head(&self) -> &str {
        self.parts.first().map(String::as_str).unwrap_or("")
    }

    /// True if `self` equals `other` or is a prefix of it on component boundaries.
    pub fn is_prefix_of(&self, other: &FieldPath) -> bool {
        self.parts.len() <= other.parts.len()
            && self.parts.iter().zip(&other.parts).all(|(a, b)| a == b)
    }
}

/// The value at `parts` inside `doc`, walking documents by name and arrays by numeric index
/// only (no implicit traversal of array elements). `None` when anything on the way is missing.
pub fn lookup<'a>(doc: &'a Document, parts: &[String]) -> Option<&'a Bson> {
    let (first, rest) = parts.split_first()?;
    let mut current = doc.get(first)?;
    for part in rest {
        current = match current {
            Bson::Document(inner) => inner.get(part)?,
            Bson::Array(items) => items.get(array_index(part)?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// A path component read as an array index: decimal digits only, no sign, no leading `+`.
pub fn array_index(part: &str) -> Option<usize> {
    if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn parse_rejects_empty_components() {
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("").is_err());
        assert_eq!(FieldPath::parse("a.b.0").unwrap().parts().len(), 3);
    }

    #[test]
    fn lookup_walks_documents_and_indexes() {
        let doc = doc! {"a": {"b": [10, {"c": 5}]}};
        let path = FieldPath::parse("a.b.1.c").unwrap();
        assert_eq!(lookup(&doc, path.parts()), Some(&Bson::Int32(5)));
        assert_eq!(
            lookup(&doc, FieldPath::parse("a.b.c").unwrap().parts()),
            None
        );
    }
}
