//! Errors of loading and compiling rules. Evaluation never errors to the caller: evaluation
//! problems are recorded in a decision's explanation (see `explain`).
//!
//! Loading and compiling go on past a problem to find the next one: they collect
//! [`ConfigError`]s in [`Problems`] and fail with all of them at the end, as [`ConfigErrors`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

/// A configuration problem, naming the file and the JSON path inside it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A file or directory could not be read.
    #[error("cannot read `{file}`: {message}")]
    Read {
        /// The file or directory.
        file: PathBuf,
        /// What the operating system said.
        message: String,
    },
    /// A file holds something that is not a valid rule, filter, schema or value.
    #[error("`{file}` at `{path}`: {message}")]
    Invalid {
        /// The file (or, for configs not read from disk, a label such as `case.rules.collection`).
        file: String,
        /// The JSON path inside the file, `$` for the whole document.
        path: String,
        /// What is wrong, in one lowercase line.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(file: &str, path: &JsonPath, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            file: file.to_owned(),
            path: path.to_string(),
            message: message.into(),
        }
    }
}

/// A JSON path built while walking a config (`$.roles[0].apply_when.owner`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JsonPath {
    text: String,
}

impl JsonPath {
    pub(crate) fn root() -> Self {
        JsonPath {
            text: "$".to_owned(),
        }
    }

    /// `.key` for a plain name, else `["key"]` quoted as a JSON string.
    pub(crate) fn key(&self, key: &str) -> Self {
        let text = if is_plain(key) {
            format!("{}.{key}", self.text)
        } else {
            format!("{}[{}]", self.text, Value::String(key.to_owned()))
        };
        JsonPath { text }
    }

    pub(crate) fn index(&self, index: usize) -> Self {
        JsonPath {
            text: format!("{}[{index}]", self.text),
        }
    }
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_plain(key: &str) -> bool {
    !key.is_empty() && key.chars().all(is_plain_char)
}

fn is_plain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '%' || c == '$'
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The steps of a path written by [`JsonPath`]; parsing stops at anything else.
fn steps(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut rest = path.strip_prefix('$').unwrap_or_default();
    while let Some((step, after)) = next_step(rest) {
        steps.push(step);
        rest = after;
    }
    steps
}

fn next_step(path: &str) -> Option<(Step, &str)> {
    if let Some(after) = path.strip_prefix('.') {
        let end = after
            .find(|c: char| !is_plain_char(c))
            .unwrap_or(after.len());
        let (key, after) = after.split_at(end);
        return (!key.is_empty()).then(|| (Step::Key(key.to_owned()), after));
    }
    let bracketed = path.strip_prefix('[')?;
    if bracketed.starts_with('"') {
        let mut strings = serde_json::Deserializer::from_str(bracketed).into_iter::<String>();
        let key = strings.next()?.ok()?;
        let after = bracketed.get(strings.byte_offset()..)?.strip_prefix(']')?;
        return Some((Step::Key(key), after));
    }
    let (digits, after) = bracketed.split_once(']')?;
    Some((Step::Index(digits.parse().ok()?), after))
}

/// Where `path` is in `document`, as the position of each step among its siblings in file
/// order (the workspace builds `serde_json` with `preserve_order`, so object keys keep the
/// file's order): comparing positions compares places in the file. Steps that are not in the
/// document are left out.
fn position(document: &Value, path: &str) -> Vec<usize> {
    let mut positions = Vec::new();
    let mut here = document;
    for step in steps(path) {
        let found = match (&step, here) {
            (Step::Key(key), Value::Object(map)) => map
                .iter()
                .enumerate()
                .find(|(_, (name, _))| *name == key)
                .map(|(index, (_, value))| (index, value)),
            (Step::Index(index), Value::Array(items)) => {
                items.get(*index).map(|value| (*index, value))
            }
            _ => None,
        };
        let Some((index, value)) = found else {
            break;
        };
        positions.push(index);
        here = value;
    }
    positions
}

/// Where a compiled piece of config came from: a file label and a JSON path in it.
#[derive(Debug, Clone)]
pub(crate) struct Origin<'a> {
    pub(crate) file: &'a str,
    pub(crate) path: JsonPath,
}

impl<'a> Origin<'a> {
    pub(crate) fn new(file: &'a str, path: JsonPath) -> Self {
        Origin { file, path }
    }

    pub(crate) fn key(&self, key: &str) -> Self {
        Origin {
            file: self.file,
            path: self.path.key(key),
        }
    }

    pub(crate) fn index(&self, index: usize) -> Self {
        Origin {
            file: self.file,
            path: self.path.index(index),
        }
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::invalid(self.file, &self.path, message)
    }
}

/// Every configuration problem of one load or compile: never empty, in a stable order (by
/// file, then by place in the file). Displays the first and how many more there are; iterate
/// for all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    first: ConfigError,
    more: Vec<ConfigError>,
}

impl ConfigErrors {
    /// The first error.
    pub fn first(&self) -> &ConfigError {
        &self.first
    }

    /// Every error, in order.
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        std::iter::once(&self.first).chain(&self.more)
    }

    /// How many errors there are (at least one).
    pub fn len(&self) -> usize {
        1 + self.more.len()
    }

    /// Always false: there is at least one error.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Every error, in order.
    pub fn into_vec(self) -> Vec<ConfigError> {
        let mut errors = Vec::with_capacity(self.len());
        errors.push(self.first);
        errors.extend(self.more);
        errors
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors {
            first: error,
            more: Vec::new(),
        }
    }
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.first)?;
        if !self.more.is_empty() {
            write!(f, " (and {} more)", self.more.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter =
        std::iter::Chain<std::iter::Once<&'a ConfigError>, std::slice::Iter<'a, ConfigError>>;

    fn into_iter(self) -> Self::IntoIter {
        std::iter::once(&self.first).chain(self.more.iter())
    }
}

/// The JSON of each file read, by label, to sort errors by their place in the file.
pub(crate) type Documents = BTreeMap<String, Value>;

/// Problems found so far, in the order found.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    found: Vec<Found>,
}

#[derive(Debug)]
struct Found {
    error: ConfigError,
    /// Where the error sorts, when not at its own path (an unknown key is reported at its
    /// object, as serde does, but sorts where the key is).
    sort_path: Option<String>,
}

impl Problems {
    pub(crate) fn push(&mut self, error: ConfigError) {
        self.found.push(Found {
            error,
            sort_path: None,
        });
    }

    /// Records `error`, sorted as if it were at `path`.
    pub(crate) fn push_sorted_at(&mut self, error: ConfigError, path: &JsonPath) {
        self.found.push(Found {
            error,
            sort_path: Some(path.to_string()),
        });
    }

    /// The value, or `None` with the error recorded.
    pub(crate) fn keep<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    /// How many problems were found: compare before and after a step to know whether it
    /// found any.
    pub(crate) fn count(&self) -> usize {
        self.found.len()
    }

    pub(crate) fn contains(&self, error: &ConfigError) -> bool {
        self.found.iter().any(|found| &found.error == error)
    }

    /// `Ok` when nothing was found, else every problem: by file, then by place in the file
    /// (looked up in `documents`), then in the order found.
    pub(crate) fn finish(self, documents: &Documents) -> Result<(), ConfigErrors> {
        let mut keyed: Vec<(String, Vec<usize>, usize, ConfigError)> = self
            .found
            .into_iter()
            .enumerate()
            .map(|(order, found)| {
                let (file, path) = match &found.error {
                    ConfigError::Read { file, .. } => (file.display().to_string(), String::new()),
                    ConfigError::Invalid { file, path, .. } => (file.clone(), path.clone()),
                };
                let path = found.sort_path.unwrap_or(path);
                let place = documents
                    .get(&file)
                    .map(|document| position(document, &path))
                    .unwrap_or_default();
                (file, place, order, found.error)
            })
            .collect();
        keyed.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
        let mut errors = keyed.into_iter().map(|(_, _, _, error)| error);
        match errors.next() {
            None => Ok(()),
            Some(first) => Err(ConfigErrors {
                first,
                more: errors.collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_back_into_their_steps() {
        let path = JsonPath::root()
            .key("roles")
            .index(12)
            .key("apply_when")
            .key("%%user.id")
            .key("a \"quoted\" ]key[")
            .key("");
        assert_eq!(
            path.to_string(),
            r#"$.roles[12].apply_when["%%user.id"]["a \"quoted\" ]key["][""]"#
        );
        assert_eq!(
            steps(&path.to_string()),
            [
                Step::Key("roles".into()),
                Step::Index(12),
                Step::Key("apply_when".into()),
                Step::Key("%%user.id".into()),
                Step::Key("a \"quoted\" ]key[".into()),
                Step::Key(String::new()),
            ]
        );
        assert!(steps("$").is_empty());
        assert_eq!(steps("$.a[x].b"), [Step::Key("a".into())]);
    }

    #[test]
    fn a_position_follows_the_file_order_of_keys() {
        let document =
            json!({"roles": [{"name": "a"}, {"read": 1, "apply_when": {}}], "filters": []});
        assert_eq!(position(&document, "$.roles[1].apply_when"), [0, 1, 1]);
        assert_eq!(position(&document, "$.roles[1].nope.deeper"), [0, 1]);
        assert_eq!(position(&document, "$.filters"), [1]);
        assert!(position(&document, "$.roles[1].apply_when") < position(&document, "$.filters"));
    }

    #[test]
    fn errors_sort_by_file_then_place_then_order_found() {
        let mut problems = Problems::default();
        let error = |file: &str, path: &str| ConfigError::Invalid {
            file: file.to_owned(),
            path: path.to_owned(),
            message: "bad".to_owned(),
        };
        problems.push(error("b.json", "$.x"));
        problems.push(error("a.json", "$.later"));
        problems.push(error("a.json", "$.earlier"));
        problems.push_sorted_at(error("a.json", "$"), &JsonPath::root().key("middle"));
        problems.push(error("a.json", "$.earlier"));
        let mut documents = Documents::new();
        documents.insert(
            "a.json".to_owned(),
            json!({"earlier": 1, "middle": 2, "later": 3}),
        );
        let errors = problems.finish(&documents).unwrap_err();
        let found: Vec<(&str, &str)> = errors
            .iter()
            .map(|error| match error {
                ConfigError::Invalid { file, path, .. } => (file.as_str(), path.as_str()),
                ConfigError::Read { .. } => unreachable!(),
            })
            .collect();
        assert_eq!(
            found,
            [
                ("a.json", "$.earlier"),
                ("a.json", "$.earlier"),
                ("a.json", "$"),
                ("a.json", "$.later"),
                ("b.json", "$.x"),
            ]
        );
        assert_eq!(errors.len(), 5);
        assert_eq!(
            errors.to_string(),
            "`a.json` at `$.earlier`: bad (and 4 more)"
        );
        assert!(Problems::default().finish(&Documents::new()).is_ok());
    }

    #[test]
    fn one_error_displays_as_itself() {
        let errors = ConfigErrors::from(ConfigError::Invalid {
            file: "f".to_owned(),
            path: "$".to_owned(),
            message: "bad".to_owned(),
        });
        assert_eq!(errors.to_string(), "`f` at `$`: bad");
        assert_eq!(errors.into_vec().len(), 1);
    }
}
