//! Hard limits every evaluation respects, the same as a MongoDB server's where it has one.

use bson::{Bson, Document};

use crate::error::{MqlError, Result};

/// Maximum nesting depth of documents and arrays in a stored document (the top-level document
/// is level 1), and of operators in a filter or an expression: MongoDB's documented limit.
pub const MAX_DEPTH: usize = 100;
/// Maximum nesting depth of documents and arrays in an input: a filter, an update, a pipeline,
/// a request body. MongoDB accepts any command nested up to 200 levels (`maxBSONDepth`), so a
/// query at the documented 100 levels of operators, or inside a request, still fits.
pub const MAX_INPUT_DEPTH: usize = 200;
/// Maximum size of one BSON document, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;
/// Maximum length of a regular expression pattern, in bytes.
pub const MAX_REGEX_BYTES: usize = 32 * 1024;
/// Maximum size of a compiled regular expression program (bounds compile time and memory).
pub const MAX_REGEX_PROGRAM_BYTES: usize = 2 * 1024 * 1024;

/// Fails with `LimitExceeded` if `doc` nests deeper than [`MAX_DEPTH`] (the top-level document
/// is depth 1).
pub fn check_depth(doc: &Document) -> Result<()> {
    fn walk_doc(doc: &Document, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        doc.values().try_for_each(|value| walk(value, depth))
    }
    fn walk(value: &Bson, depth: usize) -> Result<()> {
        match value {
            Bson::Document(inner) => walk_doc(inner, depth + 1),
            Bson::Array(items) => {
                if depth + 1 > MAX_DEPTH {
                    return Err(too_deep());
                }
                items.iter().try_for_each(|item| walk(item, depth + 1))
            }
            _ => Ok(()),
        }
    }
    walk_doc(doc, 1)
}

fn too_deep() -> MqlError {
    MqlError::limit(format!("document nests deeper than {MAX_DEPTH} levels"))
}

/// Fails with `LimitExceeded` if `doc` serialises to more than [`MAX_DOCUMENT_BYTES`].
pub fn check_size(doc: &Document) -> Result<()> {
    let size = doc
        .to_vec()
        .map_err(|error| MqlError::bad_value(format!("document cannot be encoded: {error}")))?
        .len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(MqlError::limit(format!(
            "document is {size} bytes, over the limit of {MAX_DOCUMENT_BYTES}"
        )));
    }
    Ok(())
}

/// Compiles a regular expression within the size limits, translating MongoDB options
/// (`i m s x u`) into the `regex` crate's flags. Unknown options are an error.
pub fn compile_regex(pattern: &str, options: &str) -> Result<regex::Regex> {
    if pattern.len() > MAX_REGEX_BYTES {
        return Err(MqlError::limit(format!(
            "regular expression is {} bytes, over the limit of {MAX_REGEX_BYTES}",
            pattern.len()
        )));
    }
    let mut builder = regex::RegexBuilder::new(pattern);
    builder.size_limit(MAX_REGEX_PROGRAM_BYTES);
    builder.dfa_size_limit(MAX_REGEX_PROGRAM_BYTES);
    for option in options.chars() {
        match option {
            'i' => builder.case_insensitive(true),
            'm' => builder.multi_line(true),
            's' => builder.dot_matches_new_line(true),
            'x' => builder.ignore_whitespace(true),
            'u' => builder.unicode(true),
            other => {
                return Err(MqlError::bad_value(format!(
                    "invalid regular expression option `{other}`"
                )))
            }
        };
    }
    builder.build().map_err(|error| {
        MqlError::bad_value(format!(
            "invalid regular expression `{pattern}`: {}",
            one_line(&error.to_string())
        ))
    })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn depth_limit_counts_documents_and_arrays() {
        let mut value = Bson::Int32(1);
        for _ in 0..99 {
            value = Bson::Document(doc! { "a": value });
        }
        let Bson::Document(ok) = value.clone() else {
            unreachable!()
        };
        assert!(check_depth(&ok).is_ok());
        let too_deep = doc! { "a": Bson::Array(vec![Bson::Document(ok)]) };
        assert_eq!(
            check_depth(&too_deep).unwrap_err().kind(),
            crate::ErrorKind::LimitExceeded
        );
    }

    #[test]
    fn regex_options_are_checked() {
        assert!(compile_regex("^a", "im").unwrap().is_match("xx\nAb"));
        assert!(compile_regex("a", "q").is_err());
        assert!(compile_regex("(", "").is_err());
    }
}
