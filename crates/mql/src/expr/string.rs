//! String operators. Positions count UTF-8 bytes (`…Bytes`) or code points (`…CP`); case
//! mapping is ASCII only, as in MongoDB.

use bson::{Bson, Document};

use super::compile::{named_args, required, Arity, Compiler};
use super::{is_nullish, take, type_of, Cx, Node};
use crate::error::{MqlError, Result};
use crate::limits::{compile_regex, MAX_DOCUMENT_BYTES};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum StrOp {
    Concat,
    ToLower,
    ToUpper,
    SubstrCP,
    SubstrBytes,
    Split,
    StrLenCP,
    StrLenBytes,
    IndexOfCP,
    IndexOfBytes,
    Strcasecmp,
}

pub(crate) fn lookup(name: &str) -> Option<(StrOp, Arity)> {
    use StrOp::*;
    Some(match name {
        "$concat" => (Concat, Arity::Any),
        "$toLower" => (ToLower, Arity::Exact(1)),
        "$toUpper" => (ToUpper, Arity::Exact(1)),
        "$substrCP" => (SubstrCP, Arity::Exact(3)),
        "$substrBytes" | "$substr" => (SubstrBytes, Arity::Exact(3)),
        "$split" => (Split, Arity::Exact(2)),
        "$strLenCP" => (StrLenCP, Arity::Exact(1)),
        "$strLenBytes" => (StrLenBytes, Arity::Exact(1)),
        "$indexOfCP" => (IndexOfCP, Arity::Range(2, 4)),
        "$indexOfBytes" => (IndexOfBytes, Arity::Range(2, 4)),
        "$strcasecmp" => (Strcasecmp, Arity::Exact(2)),
        _ => return None,
    })
}

pub(crate) fn apply(op: StrOp, args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    use StrOp::*;
    let string = |text: String| Ok(Some(Bson::String(text)));
    match op {
        Concat => concat(args),
        ToLower | ToUpper => {
            let [value] = take::<1>(args);
            let name = if op == ToLower {
                "$toLower"
            } else {
                "$toUpper"
            };
            let text = coerce_to_string(name, value.as_ref())?;
            string(if op == ToLower {
                text.to_ascii_lowercase()
            } else {
                text.to_ascii_uppercase()
            })
        }
        SubstrBytes => substr_bytes(args).map(|text| Some(Bson::String(text))),
        SubstrCP => substr_cp(args).map(|text| Some(Bson::String(text))),
        Split => split(args),
        StrLenCP | StrLenBytes => {
            let [value] = take::<1>(args);
            let name = if op == StrLenCP {
                "$strLenCP"
            } else {
                "$strLenBytes"
            };
            let Some(Bson::String(text)) = value else {
                return Err(MqlError::type_mismatch(format!(
                    "`{name}` requires a string argument, found {}",
                    type_of(value.as_ref())
                )));
            };
            let length = if op == StrLenCP {
                text.chars().count()
            } else {
                text.len()
            };
            Ok(Some(Bson::Int32(i32::try_from(length).unwrap_or(i32::MAX))))
        }
        IndexOfCP | IndexOfBytes => index_of(op, args),
        Strcasecmp => {
            let [left, right] = take::<2>(args);
            let left = coerce_to_string("$strcasecmp", left.as_ref())?.to_ascii_lowercase();
            let right = coerce_to_string("$strcasecmp", right.as_ref())?.to_ascii_lowercase();
            Ok(Some(Bson::Int32(left.cmp(&right) as i32)))
        }
    }
}

/// A value as a string the way string operators accept it: null and missing are empty,
/// numbers and dates are formatted, other types are an error.
pub(crate) fn coerce_to_string(op: &str, value: Option<&Bson>) -> Result<String> {
    Ok(match value {
        None | Some(Bson::Null) | Some(Bson::Undefined) => String::new(),
        Some(Bson::String(text)) | Some(Bson::Symbol(text)) => text.clone(),
        Some(Bson::Int32(v)) => v.to_string(),
        Some(Bson::Int64(v)) => v.to_string(),
        Some(Bson::Double(v)) => super::convert::double_to_string(*v),
        Some(Bson::Decimal128(v)) => v.to_string(),
        Some(Bson::DateTime(when)) => super::date::iso_string(when.timestamp_millis())?,
        Some(other) => {
            return Err(MqlError::type_mismatch(format!(
                "`{op}` can't convert from BSON type {} to string",
                crate::value::type_name(other)
            )))
        }
    })
}

fn check_length(op: &str, length: usize) -> Result<()> {
    if length > MAX_DOCUMENT_BYTES {
        return Err(MqlError::limit(format!(
            "`{op}` would build a string of {length} bytes, over the limit of {MAX_DOCUMENT_BYTES}"
        )));
    }
    Ok(())
}

fn concat(args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let mut out = String::new();
    for arg in args {
        match arg {
            None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(Some(Bson::Null)),
            Some(Bson::String(text)) => {
                check_length("$concat", out.len() + text.len())?;
                out.push_str(&text);
            }
            Some(other) => {
                return Err(MqlError::type_mismatch(format!(
                    "`$concat` only supports strings, not {}",
                    crate::value::type_name(&other)
                )))
            }
        }
    }
    Ok(Some(Bson::String(out)))
}

fn substr_bytes(args: Vec<Option<Bson>>) -> Result<String> {
    let [value, start, length] = take::<3>(args);
    let text = coerce_to_string("$substrBytes", value.as_ref())?;
    let number = |value: Option<&Bson>, what: &str| {
        value
            .and_then(crate::value::number)
            .map(|n| n.as_f64().trunc())
            .ok_or_else(|| {
                MqlError::type_mismatch(format!(
                    "`$substrBytes`: {what} must be a numeric type, found {}",
                    type_of(value)
                ))
            })
    };
    let start = number(start.as_ref(), "starting index")?;
    let length = number(length.as_ref(), "length")?;
    if start < 0.0 || start >= text.len() as f64 {
        return Ok(String::new());
    }
    let begin = start as usize;
    let end = if length < 0.0 {
        text.len()
    } else {
        (start + length).min(text.len() as f64) as usize
    };
    if !text.is_char_boundary(begin) {
        return Err(MqlError::bad_value(
            "`$substrBytes`: invalid range, starting index is a UTF-8 continuation byte",
        ));
    }
    text.get(begin..end).map(str::to_owned).ok_or_else(|| {
        MqlError::bad_value(
            "`$substrBytes`: invalid range, ending index is in the middle of a UTF-8 character",
        )
    })
}

fn substr_cp(args: Vec<Option<Bson>>) -> Result<String> {
    let [value, start, count] = take::<3>(args);
    let text = coerce_to_string("$substrCP", value.as_ref())?;
    let start = non_negative("$substrCP", "starting index", start.as_ref())?;
    let count = non_negative("$substrCP", "length", count.as_ref())?;
    Ok(text.chars().skip(start).take(count).collect())
}

/// An integral, non-negative index argument.
fn non_negative(op: &str, what: &str, value: Option<&Bson>) -> Result<usize> {
    let number = super::arith::integral(op, what, value)?;
    usize::try_from(number)
        .map_err(|_| MqlError::bad_value(format!("`{op}`: {what} must be non-negative")))
}

fn split(args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let [value, delimiter] = take::<2>(args);
    if is_nullish(value.as_ref()) {
        return Ok(Some(Bson::Null));
    }
    let Some(Bson::String(text)) = value else {
        return Err(MqlError::type_mismatch(format!(
            "`$split` requires a string as its first argument, found {}",
            type_of(value.as_ref())
        )));
    };
    let Some(Bson::String(delimiter)) = delimiter else {
        return Err(MqlError::type_mismatch(format!(
            "`$split` requires a string as its second argument, found {}",
            type_of(delimiter.as_ref())
        )));
    };
    if delimiter.is_empty() {
        return Err(MqlError::bad_value(
            "`$split` requires a non-empty separator",
        ));
    }
    let parts = text
        .split(delimiter.as_str())
        .map(|part| Bson::String(part.to_owned()))
        .collect();
    Ok(Some(Bson::Array(parts)))
}

fn index_of(op: StrOp, args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let name = if op == StrOp::IndexOfCP {
        "$indexOfCP"
    } else {
        "$indexOfBytes"
    };
    let has_end = args.len() > 3;
    let [value, needle, start, end] = take::<4>(args);
    if is_nullish(value.as_ref()) {
        return Ok(Some(Bson::Null));
    }
    let Some(Bson::String(text)) = value else {
        return Err(MqlError::type_mismatch(format!(
            "`{name}` requires a string as its first argument, found {}",
            type_of(value.as_ref())
        )));
    };
    let Some(Bson::String(needle)) = needle else {
        return Err(MqlError::type_mismatch(format!(
            "`{name}` requires a string as its second argument, found {}",
            type_of(needle.as_ref())
        )));
    };
    let start = match start {
        Some(start) => non_negative(name, "starting index", Some(&start))?,
        None => 0,
    };
    let hay: Vec<u32> = if op == StrOp::IndexOfCP {
        text.chars().map(u32::from).collect()
    } else {
        text.bytes().map(u32::from).collect()
    };
    let pattern: Vec<u32> = if op == StrOp::IndexOfCP {
        needle.chars().map(u32::from).collect()
    } else {
        needle.bytes().map(u32::from).collect()
    };
    let end = match (has_end, end) {
        (true, Some(end)) => non_negative(name, "ending index", Some(&end))?.min(hay.len()),
        _ => hay.len(),
    };
    let found = if start > end || pattern.len() > end - start {
        None
    } else {
        (start..=end - pattern.len())
            .find(|&at| hay.get(at..at + pattern.len()) == Some(pattern.as_slice()))
    };
    let index = found.map_or(-1, |at| i32::try_from(at).unwrap_or(i32::MAX));
    Ok(Some(Bson::Int32(index)))
}

/// `$trim`, `$ltrim` and `$rtrim`.
#[derive(Debug, Clone)]
pub(crate) struct TrimSpec {
    name: &'static str,
    left: bool,
    right: bool,
    input: Node,
    chars: Option<Node>,
}

/// The characters trimmed by default: MongoDB's list of whitespace, NUL included.
const WHITESPACE: &[char] = &[
    '\0', ' ', '\t', '\n', '\u{0B}', '\u{0C}', '\r', '\u{A0}', '\u{1680}', '\u{2000}', '\u{2001}',
    '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}', '\u{2007}', '\u{2008}', '\u{2009}',
    '\u{200A}', '\u{2028}', '\u{2029}', '\u{202F}', '\u{205F}', '\u{3000}',
];

impl TrimSpec {
    pub(crate) fn compile(cc: &mut Compiler, name: &str, operand: &Bson) -> Result<TrimSpec> {
        let (name, left, right) = match name {
            "$ltrim" => ("$ltrim", true, false),
            "$rtrim" => ("$rtrim", false, true),
            _ => ("$trim", true, true),
        };
        let args = named_args(name, operand, &["input", "chars"])?;
        let input = required(name, "input", args.first().copied().flatten())?;
        Ok(TrimSpec {
            name,
            left,
            right,
            input: cc.compile(input)?,
            chars: cc.compile_opt(args.get(1).copied().flatten())?,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let input = self.input.eval(cx)?;
        if is_nullish(input.as_ref()) {
            return Ok(Some(Bson::Null));
        }
        let Some(Bson::String(text)) = input else {
            return Err(MqlError::type_mismatch(format!(
                "`{}` requires its input to be a string, found {}",
                self.name,
                type_of(input.as_ref())
            )));
        };
        let chars: Vec<char> = match &self.chars {
            None => WHITESPACE.to_vec(),
            Some(node) => match node.eval(cx)? {
                value if is_nullish(value.as_ref()) => return Ok(Some(Bson::Null)),
                Some(Bson::String(chars)) => chars.chars().collect(),
                other => {
                    return Err(MqlError::type_mismatch(format!(
                        "`{}` requires `chars` to be a string, found {}",
                        self.name,
                        type_of(other.as_ref())
                    )))
                }
            },
        };
        let mut trimmed = text.as_str();
        if self.left {
            trimmed = trimmed.trim_start_matches(chars.as_slice());
        }
        if self.right {
            trimmed = trimmed.trim_end_matches(chars.as_slice());
        }
        Ok(Some(Bson::String(trimmed.to_owned())))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RegexMode {
    Match,
    Find,
    FindAll,
}

/// `$regexMatch`, `$regexFind` and `$regexFindAll`.
#[derive(Debug, Clone)]
pub(crate) struct RegexSpec {
    name: &'static str,
    mode: RegexMode,
    input: Node,
    regex: Node,
    options: Option<Node>,
    /// The compiled pattern when `regex` and `options` are constants.
    fixed: Option<regex::Regex>,
}

impl RegexSpec {
    pub(crate) fn compile(cc: &mut Compiler, name: &str, operand: &Bson) -> Result<RegexSpec> {
        let (name, mode) = match name {
            "$regexFind" => ("$regexFind", RegexMode::Find),
            "$regexFindAll" => ("$regexFindAll", RegexMode::FindAll),
            _ => ("$regexMatch", RegexMode::Match),
        };
        let args = named_args(name, operand, &["input", "regex", "options"])?;
        let mut args = args.into_iter();
        let input = cc.compile(required(name, "input", args.next().flatten())?)?;
        let regex = cc.compile(required(name, "regex", args.next().flatten())?)?;
        let options = cc.compile_opt(args.next().flatten())?;
        let mut spec = RegexSpec {
            name,
            mode,
            input,
            regex,
            options,
            fixed: None,
        };
        if let Node::Const(pattern) = &spec.regex {
            let options = match &spec.options {
                None => None,
                Some(Node::Const(options)) => Some(options.clone()),
                Some(_) => return Ok(spec),
            };
            spec.fixed = spec.build(Some(pattern.clone()), options)?;
        }
        Ok(spec)
    }

    /// Compiles the pattern, or `None` if it is null.
    fn build(&self, pattern: Option<Bson>, options: Option<Bson>) -> Result<Option<regex::Regex>> {
        let options = match options {
            None | Some(Bson::Null) => None,
            Some(Bson::String(options)) => Some(options),
            Some(other) => {
                return Err(MqlError::type_mismatch(format!(
                    "`{}` requires `options` to be a string, found {}",
                    self.name,
                    crate::value::type_name(&other)
                )))
            }
        };
        let (pattern, flags) = match pattern {
            None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(None),
            Some(Bson::String(pattern)) => (pattern, options.unwrap_or_default()),
            Some(Bson::RegularExpression(regex)) => {
                if !regex.options.is_empty() && options.is_some() {
                    return Err(MqlError::bad_value(format!(
                        "`{}`: options set in both `regex` and `options`",
                        self.name
                    )));
                }
                (
                    regex.pattern.as_str().to_owned(),
                    options.unwrap_or_else(|| regex.options.as_str().to_owned()),
                )
            }
            Some(other) => {
                return Err(MqlError::type_mismatch(format!(
                    "`{}` requires `regex` to be a string or regular expression, found {}",
                    self.name,
                    crate::value::type_name(&other)
                )))
            }
        };
        compile_regex(&pattern, &flags).map(Some)
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let input = self.input.eval(cx)?;
        let compiled = match &self.fixed {
            Some(regex) => Some(regex.clone()),
            None => {
                let pattern = self.regex.eval(cx)?;
                let options = match &self.options {
                    Some(node) => node.eval(cx)?,
                    None => None,
                };
                self.build(pattern, options)?
            }
        };
        let text = match input {
            None | Some(Bson::Null) | Some(Bson::Undefined) => None,
            Some(Bson::String(text)) => Some(text),
            Some(other) => {
                return Err(MqlError::type_mismatch(format!(
                    "`{}` requires `input` to be a string, found {}",
                    self.name,
                    crate::value::type_name(&other)
                )))
            }
        };
        let (Some(text), Some(regex)) = (text, compiled) else {
            return Ok(Some(match self.mode {
                RegexMode::Match => Bson::Boolean(false),
                RegexMode::Find => Bson::Null,
                RegexMode::FindAll => Bson::Array(Vec::new()),
            }));
        };
        Ok(Some(match self.mode {
            RegexMode::Match => Bson::Boolean(regex.is_match(&text)),
            RegexMode::Find => regex
                .captures(&text)
                .map_or(Bson::Null, |caps| found(&text, &caps)),
            RegexMode::FindAll => {
                let mut matches = Vec::new();
                let mut bytes = 0;
                for caps in regex.captures_iter(&text) {
                    let one = found(&text, &caps);
                    bytes += super::approximate_size(&one, super::MAX_VALUE_BYTES);
                    super::check_budget("$regexFindAll", bytes)?;
                    matches.push(one);
                }
                Bson::Array(matches)
            }
        }))
    }
}

/// The `{match, idx, captures}` document of one regex match; `idx` counts code points.
fn found(text: &str, caps: &regex::Captures) -> Bson {
    let whole = caps.get(0);
    let start = whole.map_or(0, |m| m.start());
    let idx = text.get(..start).map_or(0, |prefix| prefix.chars().count());
    let captures = caps
        .iter()
        .skip(1)
        .map(|group| group.map_or(Bson::Null, |m| Bson::String(m.as_str().to_owned())))
        .collect();
    let mut doc = Document::new();
    doc.insert("match", whole.map_or("", |m| m.as_str()));
    doc.insert("idx", i32::try_from(idx).unwrap_or(i32::MAX));
    doc.insert("captures", Bson::Array(captures));
    Bson::Document(doc)
}

/// `$replaceOne` and `$replaceAll`.
#[derive(Debug, Clone)]
pub(crate) struct ReplaceSpec {
    name: &'static str,
    all: bool,
    input: Node,
    find: Node,
    replacement: Node,
}

impl ReplaceSpec {
    pub(crate) fn compile(cc: &mut Compiler, name: &str, operand: &Bson) -> Result<ReplaceSpec> {
        let (name, all) = if name == "$replaceAll" {
            ("$replaceAll", true)
        } else {
            ("$replaceOne", false)
        };
        let args = named_args(name, operand, &["input", "find", "replacement"])?;
        let mut args = args.into_iter();
        let mut next =
            |key: &str| -> Result<Node> { cc.compile(required(name, key, args.next().flatten())?) };
        Ok(ReplaceSpec {
            name,
            all,
            input: next("input")?,
            find: next("find")?,
            replacement: next("replacement")?,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let input = self.input.eval(cx)?;
        let find = self.find.eval(cx)?;
        let replacement = self.replacement.eval(cx)?;
        let mut texts = Vec::with_capacity(3);
        let mut null = false;
        for (what, value) in [
            ("input", input),
            ("find", find),
            ("replacement", replacement),
        ] {
            match value {
                None | Some(Bson::Null) | Some(Bson::Undefined) => null = true,
                Some(Bson::String(text)) => texts.push(text),
                Some(other) => {
                    return Err(MqlError::type_mismatch(format!(
                        "`{}` requires that `{what}` be a string, found {}",
                        self.name,
                        crate::value::type_name(&other)
                    )))
                }
            }
        }
        let (false, [input, find, replacement]) = (null, texts.as_slice()) else {
            return Ok(Some(Bson::Null));
        };
        let result = if self.all {
            let count = if find.is_empty() {
                input.chars().count() + 1
            } else {
                input.matches(find.as_str()).count()
            };
            check_length(
                self.name,
                input.len() + count.saturating_mul(replacement.len()),
            )?;
            input.replace(find.as_str(), replacement)
        } else {
            input.replacen(find.as_str(), replacement, 1)
        };
        Ok(Some(Bson::String(result)))
    }
}
