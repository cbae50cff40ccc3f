//! Errors of loading and compiling rules. Evaluation never errors to the caller: evaluation
//! problems are recorded in a decision's explanation (see `explain`).

use std::path::PathBuf;

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

    pub(crate) fn key(&self, key: &str) -> Self {
        let simple = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '%' || c == '$');
        let text = if simple {
            format!("{}.{key}", self.text)
        } else {
            format!("{}[{key:?}]", self.text)
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
