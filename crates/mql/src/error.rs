//! One error type for the whole engine: a stable kind (with MongoDB's numeric code, so the
//! store and the Data API can report the same codes a MongoDB server would) and a one-line
//! message for people.

use std::fmt;

/// What went wrong, stable across releases. `code()` is the MongoDB server error code of the
/// same class, `name()` its code name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A value has the right shape but is not allowed (`$size: -1`, `$mod` with a zero divisor).
    BadValue,
    /// A query, update, projection or pipeline could not be parsed.
    FailedToParse,
    /// An operator met an operand of the wrong BSON type (`$inc` on a string).
    TypeMismatch,
    /// An operator, stage or option this engine does not know or does not support.
    UnknownOperator,
    /// Two update operators touch the same path or one path is a prefix of another.
    ConflictingUpdateOperators,
    /// An update would change `_id`.
    ImmutableField,
    /// An update path runs through a value that cannot hold fields (a string, a number).
    PathNotViable,
    /// An update needs an array filter identifier that has no filter, or the reverse.
    NoSuchArrayFilter,
    /// Nesting depth, document size, regex size or evaluation steps over a limit.
    LimitExceeded,
    /// Malformed Extended JSON (or plain JSON) input.
    InvalidExtendedJson,
    /// A field name that MongoDB rejects here (empty, `$`-prefixed in a stored document).
    InvalidFieldName,
    /// Arithmetic failure inside an aggregation expression (division by zero, overflow).
    ExpressionEvaluation,
}

impl ErrorKind {
    /// The MongoDB server error code of this class.
    pub fn code(self) -> i32 {
        match self {
            ErrorKind::BadValue => 2,
            ErrorKind::FailedToParse => 9,
            ErrorKind::TypeMismatch => 14,
            ErrorKind::UnknownOperator => 115,
            ErrorKind::ConflictingUpdateOperators => 40,
            ErrorKind::ImmutableField => 66,
            ErrorKind::PathNotViable => 28,
            ErrorKind::NoSuchArrayFilter => 2,
            ErrorKind::LimitExceeded => 10334,
            ErrorKind::InvalidExtendedJson => 9,
            ErrorKind::InvalidFieldName => 52,
            ErrorKind::ExpressionEvaluation => 16608,
        }
    }

    /// A stable machine-readable name, in MongoDB's spelling where one exists.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::BadValue => "BadValue",
            ErrorKind::FailedToParse => "FailedToParse",
            ErrorKind::TypeMismatch => "TypeMismatch",
            ErrorKind::UnknownOperator => "UnknownOperator",
            ErrorKind::ConflictingUpdateOperators => "ConflictingUpdateOperators",
            ErrorKind::ImmutableField => "ImmutableField",
            ErrorKind::PathNotViable => "PathNotViable",
            ErrorKind::NoSuchArrayFilter => "NoSuchArrayFilter",
            ErrorKind::LimitExceeded => "LimitExceeded",
            ErrorKind::InvalidExtendedJson => "InvalidExtendedJson",
            ErrorKind::InvalidFieldName => "InvalidFieldName",
            ErrorKind::ExpressionEvaluation => "ExpressionEvaluation",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An engine error: a kind and a one-line, lowercase message naming the operator or path at
/// fault in backticks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MqlError {
    kind: ErrorKind,
    message: String,
}

/// Result alias used across the crate.
pub type Result<T, E = MqlError> = std::result::Result<T, E>;

impl MqlError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        MqlError {
            kind,
            message: message.into(),
        }
    }

    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// MongoDB's numeric code for this error's class.
    pub fn code(&self) -> i32 {
        self.kind.code()
    }

    /// `BadValue` with `message`.
    pub fn bad_value(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadValue, message)
    }

    /// `FailedToParse` with `message`.
    pub fn parse(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::FailedToParse, message)
    }

    /// `TypeMismatch` with `message`.
    pub fn type_mismatch(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TypeMismatch, message)
    }

    /// `UnknownOperator` naming `operator` (with its `$`) and where it was found.
    pub fn unknown_operator(operator: &str, context: &str) -> Self {
        Self::new(
            ErrorKind::UnknownOperator,
            format!("unknown {context} `{operator}`"),
        )
    }

    /// `LimitExceeded` with `message`.
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::LimitExceeded, message)
    }
}
