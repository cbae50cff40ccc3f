//! Reading and writing raw BSON documents element by element, without decoding them: the same
//! bounds-checked reader raw matching uses ([`crate::Filter::matches_raw`]), for callers that
//! copy or drop whole elements (field-level redaction) and decode only what they keep.

use bson::{Bson, RawBsonRef, RawDocument, RawDocumentBuf};

use crate::error::{MqlError, Result};
pub use crate::filter::raw::key_word;
use crate::filter::raw::{element_at, element_word_at};

/// The element type of an embedded document.
pub const DOCUMENT_TAG: u8 = 0x03;
/// The element type of an array.
pub const ARRAY_TAG: u8 = 0x04;

/// One element of a raw document: its type byte, key and value, and all its bytes.
#[derive(Debug, Clone, Copy)]
pub struct RawElement<'a> {
    /// The whole element: type byte, key, terminator, value.
    bytes: &'a [u8],
    key_len: usize,
}

impl<'a> RawElement<'a> {
    /// The element at `offset` of `document` (see [`element_layout`]); `None` when malformed.
    pub fn at(document: &'a RawDocument, offset: usize) -> Option<RawElement<'a>> {
        let (key_len, size) = element_layout(document, offset)?;
        Some(RawElement {
            bytes: document.as_bytes().get(offset..offset + size)?,
            key_len,
        })
    }

    /// The BSON element type (`0x03` document, `0x04` array, ...).
    #[inline]
    pub fn tag(&self) -> u8 {
        self.bytes.first().copied().unwrap_or_default()
    }

    /// The key as stored (no terminator).
    #[inline]
    pub fn key(&self) -> &'a [u8] {
        self.bytes.get(1..1 + self.key_len).unwrap_or_default()
    }

    /// The key as text; an error when it is not UTF-8.
    pub fn key_str(&self) -> Result<&'a str> {
        std::str::from_utf8(self.key()).map_err(|_| malformed("a key is not UTF-8"))
    }

    /// The value's bytes, exactly.
    #[inline]
    pub fn value_bytes(&self) -> &'a [u8] {
        self.bytes.get(self.key_len + 2..).unwrap_or_default()
    }

    /// The whole element (type byte, key, terminator, value): what to copy to keep it.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The embedded document or array this element holds, when it holds one.
    #[inline]
    pub fn as_document(&self) -> Option<&'a RawDocument> {
        match self.tag() {
            DOCUMENT_TAG | ARRAY_TAG => RawDocument::from_bytes(self.value_bytes()).ok(),
            _ => None,
        }
    }

    /// The value decoded; an error when its bytes are malformed.
    pub fn to_bson(&self) -> Result<Bson> {
        let mut holder = RawWriter::new();
        holder.push_element(self.bytes);
        let holder = holder.finish()?;
        let value = holder
            .iter()
            .next()
            .ok_or_else(|| malformed("empty element"))?
            .map_err(|error| malformed(&error.to_string()))?
            .1;
        bson_of(value)
    }
}

fn bson_of(value: RawBsonRef<'_>) -> Result<Bson> {
    Bson::try_from(value).map_err(|error| malformed(&error.to_string()))
}

fn malformed(what: &str) -> MqlError {
    MqlError::parse(format!("malformed BSON: {what}"))
}

/// The elements of `document` in order. Stops after the first malformed element, which it
/// yields as an error.
#[inline]
pub fn raw_elements(document: &RawDocument) -> RawElements<'_> {
    let bytes = document.as_bytes();
    // `RawDocument` guarantees a length prefix and a final zero; the elements lie between.
    let body = bytes
        .get(..bytes.len().saturating_sub(1))
        .unwrap_or_default();
    RawElements { body, offset: 4 }
}

/// Iterator of [`raw_elements`].
#[derive(Debug, Clone)]
pub struct RawElements<'a> {
    /// The document without its final zero.
    body: &'a [u8],
    /// Where the next element starts; `usize::MAX` once finished.
    offset: usize,
}

impl<'a> Iterator for RawElements<'a> {
    type Item = Result<RawElement<'a>>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.offset;
        let end = self.body.len();
        if offset >= end {
            self.offset = usize::MAX;
            return None;
        }
        let element = element_at(self.body, offset, end)
            .and_then(|(key_len, size)| Some((key_len, self.body.get(offset..offset + size)?)));
        match element {
            Some((key_len, bytes)) => {
                self.offset = offset + bytes.len();
                Some(Ok(RawElement { bytes, key_len }))
            }
            None => {
                self.offset = usize::MAX;
                Some(Err(malformed("bad element")))
            }
        }
    }
}

/// The layout of the element at `offset` of `document` (the offset of a type byte, 4 for the
/// first element): the length of its key and its total size (type byte, key, terminator,
/// value); `None` when the element is malformed or `offset` is not before the document's
/// terminator. The same bounds-checked reader as [`raw_elements`], for loops that keep their
/// own offset.
#[inline(always)]
pub fn element_layout(document: &RawDocument, offset: usize) -> Option<(usize, usize)> {
    let bytes = document.as_bytes();
    element_at(bytes, offset, bytes.len().checked_sub(1)?)
}

/// [`element_layout`] with the key as a word ([`key_word`] of the key: its bytes, zero above
/// its length, for a key of up to eight bytes; `0` for a longer one), read with the layout,
/// so that a caller comparing short keys needs neither the key's slice nor its bounds.
#[inline(always)]
pub fn element_layout_word(document: &RawDocument, offset: usize) -> Option<(usize, usize, u64)> {
    let bytes = document.as_bytes();
    element_word_at(bytes, offset, bytes.len().checked_sub(1)?)
}

/// Builds a raw document by appending whole elements: a redacted copy of a stored document
/// is its kept elements copied back to back.
#[derive(Debug, Clone)]
pub struct RawWriter {
    bytes: Vec<u8>,
}

impl Default for RawWriter {
    fn default() -> Self {
        RawWriter::new()
    }
}

impl RawWriter {
    /// An empty document.
    pub fn new() -> Self {
        RawWriter::with_capacity(64)
    }

    /// An empty document with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut bytes = Vec::with_capacity(capacity.max(5));
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        RawWriter { bytes }
    }

    /// Appends a whole element ([`RawElement::bytes`]).
    #[inline]
    pub fn push_element(&mut self, element: &[u8]) {
        self.bytes.extend_from_slice(element);
    }

    /// Appends an element of type `tag` (document or array) named `key` holding `document`.
    pub fn push_document(&mut self, tag: u8, key: &[u8], document: &RawDocument) {
        self.bytes.push(tag);
        self.bytes.extend_from_slice(key);
        self.bytes.push(0);
        self.bytes.extend_from_slice(document.as_bytes());
    }

    /// Whether no element was appended.
    pub fn is_empty(&self) -> bool {
        self.bytes.len() <= 4
    }

    /// The finished document; an error when it would exceed what a length prefix holds.
    pub fn finish(mut self) -> Result<RawDocumentBuf> {
        close_document(&mut self.bytes, 0)?;
        RawDocumentBuf::from_bytes(self.bytes).map_err(|error| malformed(&error.to_string()))
    }
}

#[cold]
#[inline(never)]
fn too_large() -> MqlError {
    malformed("document too large")
}

/// Ends the document that starts at `start` of `bytes` (a length prefix to fill in, then
/// whole elements): appends its terminator and writes its length into the prefix. An error
/// when it would exceed what a length prefix holds.
#[inline]
pub fn close_document(bytes: &mut Vec<u8>, start: usize) -> Result<()> {
    bytes.push(0);
    let Ok(length) = i32::try_from(bytes.len().saturating_sub(start)) else {
        return Err(too_large());
    };
    let length = length.to_le_bytes();
    if let Some(prefix) = bytes.get_mut(start..start + 4) {
        prefix.copy_from_slice(&length);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bson::{doc, Document};

    use super::*;

    #[test]
    fn elements_round_trip_through_the_writer() {
        let original = doc! {"a": 1, "b": {"c": [1, "x"]}, "d": "text", "e": null};
        let raw = RawDocumentBuf::try_from(&original).unwrap();
        let mut writer = RawWriter::new();
        let mut keys = Vec::new();
        for element in raw_elements(&raw) {
            let element = element.unwrap();
            keys.push(element.key_str().unwrap().to_owned());
            if element.key() != b"d" {
                writer.push_element(element.bytes());
            }
        }
        assert_eq!(keys, ["a", "b", "d", "e"]);
        let kept = Document::try_from(writer.finish().unwrap().as_ref()).unwrap();
        assert_eq!(kept, doc! {"a": 1, "b": {"c": [1, "x"]}, "e": null});
    }

    #[test]
    fn values_decode_and_nest() {
        let raw = RawDocumentBuf::try_from(&doc! {"b": {"c": 2}, "n": 1.5}).unwrap();
        let elements: Vec<_> = raw_elements(&raw).map(|e| e.unwrap()).collect();
        assert_eq!(
            elements[0].to_bson().unwrap(),
            bson::Bson::Document(doc! {"c": 2})
        );
        assert_eq!(elements[1].to_bson().unwrap(), bson::Bson::Double(1.5));
        let inner = elements[0].as_document().unwrap();
        let mut writer = RawWriter::new();
        writer.push_document(DOCUMENT_TAG, b"copy", inner);
        let copy = Document::try_from(writer.finish().unwrap().as_ref()).unwrap();
        assert_eq!(copy, doc! {"copy": {"c": 2}});
    }

    /// Each key's word is the key's bytes zero-extended (long keys: 0), with the layout
    /// [`element_layout`] gives; also for a last key too close to the end for a whole word.
    #[test]
    fn layouts_give_each_short_key_as_a_word() {
        let keys = [
            "",
            "a",
            "ab",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "a_much_longer_key",
        ];
        let mut document = Document::new();
        for (index, key) in keys.iter().enumerate() {
            document.insert(*key, index as i32);
        }
        let tails = [doc! {"z": null}, doc! {"yz": true}];
        for document in std::iter::once(&document).chain(&tails) {
            let raw = RawDocumentBuf::try_from(document).unwrap();
            let mut offset = 4;
            for key in document.keys() {
                let layout = element_layout(&raw, offset).unwrap();
                let (key_len, size, word) = element_layout_word(&raw, offset).unwrap();
                assert_eq!((key_len, size), layout);
                assert_eq!(key_len, key.len());
                let expected = if key.len() <= 8 {
                    let mut bytes = [0u8; 8];
                    bytes[..key.len()].copy_from_slice(key.as_bytes());
                    u64::from_le_bytes(bytes)
                } else {
                    0
                };
                assert_eq!(word, expected, "key {key:?}");
                assert_eq!(key_word(key.as_bytes()), expected);
                offset += size;
            }
            assert_eq!(offset, raw.as_bytes().len() - 1);
        }
    }

    #[test]
    fn malformed_bytes_are_an_error() {
        let mut bytes = RawDocumentBuf::try_from(&doc! {"a": "text"})
            .unwrap()
            .into_bytes();
        // Claim a longer string than the document holds.
        bytes[7] = 200;
        let raw = RawDocument::from_bytes(&bytes).unwrap();
        let items: Vec<_> = raw_elements(raw).collect();
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
    }
}
