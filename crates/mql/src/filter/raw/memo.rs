//! The per-evaluation memory of top-level elements already read (see [`Lookups`]).

use super::*;

/// How many elements of the top-level document [`Lookups`] remembers.
pub(super) const REMEMBERED: usize = 32;

/// The size from which a document's lookups are remembered, in bytes (about eight fields).
pub(super) const REMEMBER_FROM: usize = 160;

/// The top-level fields one evaluation has read, in order, so that the next path looked up
/// finds an earlier field without reading the document again and a later one by reading on
/// from where the last lookup stopped: a filter reads each top-level element at most once.
/// Only for filters with several paths (see [`View::lookups`]).
pub(crate) enum Lookups<'a> {
    Off,
    On(Memo<'a>),
}

pub(crate) struct Memo<'a> {
    root: RawDoc<'a>,
    /// The offset of the first element not read yet.
    next: usize,
    /// All elements read and the terminator checked.
    complete: bool,
    count: usize,
    /// Per element read: its offset and the length of its key (saturated at 255).
    offsets: [u32; REMEMBERED],
    key_lens: [u8; REMEMBERED],
}

impl<'a> Lookups<'a> {
    /// The first field named `name` in `doc`.
    #[inline(always)]
    pub(super) fn field(&mut self, doc: RawDoc<'a>, name: &[u8]) -> Result<Option<RawValue<'a>>> {
        match self {
            Lookups::On(memo) if std::ptr::eq(memo.root.bytes, doc.bytes) => {
                doc.found(memo.field(name))
            }
            _ => doc.find(name),
        }
    }
}

impl<'a> Memo<'a> {
    pub(super) fn new(root: RawDoc<'a>) -> Memo<'a> {
        Memo {
            root,
            next: 4,
            complete: false,
            count: 0,
            offsets: [0; REMEMBERED],
            key_lens: [0; REMEMBERED],
        }
    }

    #[inline(never)]
    pub(super) fn field(&mut self, name: &[u8]) -> Found {
        let doc = self.root;
        let count = self.count.min(REMEMBERED);
        let offsets = self.offsets.get(..count).unwrap_or_default();
        let key_lens = self.key_lens.get(..count).unwrap_or_default();
        let name_len = u8::try_from(name.len()).unwrap_or(u8::MAX);
        for (offset, key_len) in offsets.iter().zip(key_lens) {
            if *key_len != name_len {
                continue;
            }
            let offset = *offset as usize;
            let Some(header) = Header::read_fast(doc.bytes, offset, doc.end()) else {
                return Found::BadElement;
            };
            if doc.named(offset, header, name) {
                return Found::at(offset, header);
            }
        }
        if self.complete {
            return Found::Missing;
        }
        self.read_on(name)
    }

    /// Reads on from the first element not read yet, remembering each, until `name`.
    #[inline(always)]
    pub(super) fn read_on(&mut self, name: &[u8]) -> Found {
        let doc = self.root;
        let bytes = doc.bytes;
        let end = doc.end();
        let mut offset = self.next;
        let mut count = self.count;
        let mut found = Found::Missing;
        while offset < end {
            let (Some(slot), Some(key_len), Ok(at)) = (
                self.offsets.get_mut(count),
                self.key_lens.get_mut(count),
                u32::try_from(offset),
            ) else {
                break;
            };
            let Some(header) = Header::read_quick(bytes, offset, end)
                .or_else(|| Header::read_fast(bytes, offset, end))
            else {
                break;
            };
            *slot = at;
            *key_len = u8::try_from(header.key_len).unwrap_or(u8::MAX);
            count += 1;
            let this = offset;
            offset += header.total();
            if doc.named(this, header, name) {
                found = Found::at(this, header);
                break;
            }
        }
        self.count = count;
        self.next = offset;
        if !matches!(found, Found::Missing) {
            return found;
        }
        if offset < end {
            // Malformed, or too many fields to remember: the rest is searched as usual.
            return doc.find_from(offset, name);
        }
        let found = Found::end(bytes, end);
        self.complete = matches!(found, Found::Missing);
        found
    }
}
