//! Writes inside one redb write transaction: documents, their index entries and the catalog.
//!
//! redb admits one write transaction at a time, so everything a transaction body reads stays
//! as it read it until the commit: read-decide-write cannot be split by another writer.
//! Every single-document write checks everything that can fail (validation, `_id` and unique
//! keys) before it writes anything, so a failed write leaves the transaction as it was.

use std::collections::HashMap;

use bson::{Bson, Document};
use rampart_mql::{check_depth, with_id_first, ErrorKind, Filter, MqlError, MAX_DOCUMENT_BYTES};
use redb::{ReadableTable, WriteTransaction};

use crate::embedded::catalog::{self, BytesTable, CollectionEntry, IndexSpec, CATALOG, ID_INDEX};
use crate::embedded::plan::{self, describe_key, id_key, index_keys};
use crate::embedded::read::{self, Hit};
use crate::error::{Result, StoreError};
use crate::namespace::Namespace;

/// A write transaction with a cache of the catalog entries it has read or changed.
pub(crate) struct WriteTxn {
    pub(crate) txn: WriteTransaction,
    entries: HashMap<Namespace, Option<CollectionEntry>>,
}

impl WriteTxn {
    pub(crate) fn new(txn: WriteTransaction) -> WriteTxn {
        WriteTxn {
            txn,
            entries: HashMap::new(),
        }
    }

    pub(crate) fn commit(self) -> Result<()> {
        Ok(self.txn.commit()?)
    }

    pub(crate) fn entry(&mut self, ns: &Namespace) -> Result<Option<CollectionEntry>> {
        if let Some(entry) = self.entries.get(ns) {
            return Ok(entry.clone());
        }
        let entry = catalog::read_entry(&self.txn.open_table(CATALOG)?, ns)?;
        self.entries.insert(ns.clone(), entry.clone());
        Ok(entry)
    }

    pub(crate) fn save_entry(
        &mut self,
        ns: &Namespace,
        entry: Option<CollectionEntry>,
    ) -> Result<()> {
        {
            let mut table = self.txn.open_table(CATALOG)?;
            let key = catalog::catalog_key(ns);
            match &entry {
                Some(entry) => {
                    table.insert(key.as_str(), entry.encode()?.as_slice())?;
                }
                None => {
                    table.remove(key.as_str())?;
                }
            }
        }
        self.entries.insert(ns.clone(), entry);
        Ok(())
    }

    /// The collection's entry, creating the collection (as MongoDB does on first write).
    pub(crate) fn ensure_collection(&mut self, ns: &Namespace) -> Result<CollectionEntry> {
        if let Some(entry) = self.entry(ns)? {
            return Ok(entry);
        }
        let entry = CollectionEntry {
            table: catalog::allocate_table_id(&self.txn)?,
            indexes: Vec::new(),
        };
        self.txn
            .open_table(BytesTable::new(&entry.docs_table_name()))?;
        self.save_entry(ns, Some(entry.clone()))?;
        Ok(entry)
    }

    pub(crate) fn drop_collection(&mut self, ns: &Namespace) -> Result<bool> {
        let Some(entry) = self.entry(ns)? else {
            return Ok(false);
        };
        self.txn
            .delete_table(BytesTable::new(&entry.docs_table_name()))?;
        for index in &entry.indexes {
            self.txn
                .delete_table(BytesTable::new(&index.table_name()))?;
        }
        self.save_entry(ns, None)?;
        Ok(true)
    }

    /// Matching documents in `_id` order (none when the collection does not exist).
    pub(crate) fn matching(
        &mut self,
        ns: &Namespace,
        filter: &Filter,
        stop_after: Option<usize>,
    ) -> Result<Vec<Hit>> {
        let Some(entry) = self.entry(ns)? else {
            return Ok(Vec::new());
        };
        let plan = plan::choose(filter, &entry);
        read::matching(&self.txn, &entry, filter, &plan, stop_after)
    }

    pub(crate) fn get(&mut self, ns: &Namespace, id: &Bson) -> Result<Option<Document>> {
        let Some(entry) = self.entry(ns)? else {
            return Ok(None);
        };
        let table = self
            .txn
            .open_table(BytesTable::new(&entry.docs_table_name()))?;
        let found = table.get(id_key(id).as_slice())?;
        found.map(|bytes| read::decode(bytes.value())).transpose()
    }

    /// Inserts a new document; `DuplicateKey` if its `_id` or a unique key is taken.
    pub(crate) fn insert_document(&mut self, ns: &Namespace, doc: Document) -> Result<Bson> {
        let doc = with_id_first(doc);
        let bytes = validate(&doc)?;
        let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
        let key = id_key(&id);
        let mut entry = self.ensure_collection(ns)?;
        {
            let docs = self
                .txn
                .open_table(BytesTable::new(&entry.docs_table_name()))?;
            if docs.get(key.as_slice())?.is_some() {
                return Err(duplicate(
                    ns,
                    ID_INDEX,
                    &Document::from_iter([("_id".to_owned(), id)]),
                ));
            }
        }
        let changes = self.index_changes(ns, &entry, &key, None, Some(&doc))?;
        self.txn
            .open_table(BytesTable::new(&entry.docs_table_name()))?
            .insert(key.as_slice(), bytes.as_slice())?;
        self.apply_index_changes(ns, &mut entry, &key, changes)?;
        Ok(id)
    }

    /// Replaces the stored document at `old.key` with `new` (which keeps `old`'s `_id`).
    pub(crate) fn replace_document(
        &mut self,
        ns: &Namespace,
        old: &Hit,
        new: Document,
    ) -> Result<Document> {
        let new = keep_id(&old.doc, new)?;
        let bytes = validate(&new)?;
        let Some(mut entry) = self.entry(ns)? else {
            return Err(StoreError::NamespaceNotFound(ns.to_string()));
        };
        let changes = self.index_changes(ns, &entry, &old.key, Some(&old.doc), Some(&new))?;
        self.txn
            .open_table(BytesTable::new(&entry.docs_table_name()))?
            .insert(old.key.as_slice(), bytes.as_slice())?;
        self.apply_index_changes(ns, &mut entry, &old.key, changes)?;
        Ok(new)
    }

    pub(crate) fn delete_document(&mut self, ns: &Namespace, old: &Hit) -> Result<()> {
        let Some(mut entry) = self.entry(ns)? else {
            return Ok(());
        };
        let changes = self.index_changes(ns, &entry, &old.key, Some(&old.doc), None)?;
        self.txn
            .open_table(BytesTable::new(&entry.docs_table_name()))?
            .remove(old.key.as_slice())?;
        self.apply_index_changes(ns, &mut entry, &old.key, changes)
    }

    /// Per index: the keys to remove, the keys to add, and whether the new document makes
    /// the index multikey. Fails, before anything is written, when an added key of a unique
    /// index belongs to another document.
    fn index_changes(
        &self,
        ns: &Namespace,
        entry: &CollectionEntry,
        key: &[u8],
        old: Option<&Document>,
        new: Option<&Document>,
    ) -> Result<Vec<IndexChange>> {
        let mut changes = Vec::with_capacity(entry.indexes.len());
        for index in &entry.indexes {
            let (old_keys, _) = old
                .map(|doc| index_keys(index, doc, key))
                .unwrap_or_default();
            let (new_keys, multikey) = new
                .map(|doc| index_keys(index, doc, key))
                .unwrap_or_default();
            let added: Vec<Vec<u8>> = new_keys.difference(&old_keys).cloned().collect();
            let removed: Vec<Vec<u8>> = old_keys.difference(&new_keys).cloned().collect();
            if index.unique {
                let table = self.txn.open_table(BytesTable::new(&index.table_name()))?;
                for added_key in &added {
                    let owner = table.get(added_key.as_slice())?;
                    if owner.is_some_and(|owner| owner.value() != key) {
                        let shown = new.map(|doc| describe_key(index, doc)).unwrap_or_default();
                        return Err(StoreError::DuplicateKey {
                            namespace: ns.to_string(),
                            index: index.name.clone(),
                            key: shown,
                        });
                    }
                }
            }
            changes.push(IndexChange {
                added,
                removed,
                multikey,
            });
        }
        Ok(changes)
    }

    fn apply_index_changes(
        &mut self,
        ns: &Namespace,
        entry: &mut CollectionEntry,
        key: &[u8],
        changes: Vec<IndexChange>,
    ) -> Result<()> {
        let mut catalog_changed = false;
        for (index, change) in entry.indexes.iter_mut().zip(changes) {
            let mut table = self.txn.open_table(BytesTable::new(&index.table_name()))?;
            for removed in &change.removed {
                table.remove(removed.as_slice())?;
            }
            for added in &change.added {
                table.insert(added.as_slice(), key)?;
            }
            if change.multikey && !index.multikey {
                index.multikey = true;
                catalog_changed = true;
            }
        }
        if catalog_changed {
            self.save_entry(ns, Some(entry.clone()))?;
        }
        Ok(())
    }

    /// Builds a new index over the existing documents; a unique index over duplicates fails
    /// with `DuplicateKey` and, the transaction being aborted, leaves nothing behind.
    pub(crate) fn build_index(&mut self, ns: &Namespace, mut index: IndexSpec) -> Result<()> {
        let mut entry = self.ensure_collection(ns)?;
        {
            let docs = self
                .txn
                .open_table(BytesTable::new(&entry.docs_table_name()))?;
            let mut table = self.txn.open_table(BytesTable::new(&index.table_name()))?;
            for row in docs.range::<&[u8]>(..)? {
                let (key, bytes) = row?;
                let doc = read::decode(bytes.value())?;
                let (keys, multikey) = index_keys(&index, &doc, key.value());
                index.multikey |= multikey;
                for index_key in keys {
                    let previous = table.insert(index_key.as_slice(), key.value())?;
                    if index.unique && previous.is_some_and(|owner| owner.value() != key.value()) {
                        return Err(duplicate(ns, &index.name, &key_document(&index, &doc)));
                    }
                }
            }
        }
        entry.indexes.push(index);
        self.save_entry(ns, Some(entry))
    }

    pub(crate) fn remove_index(&mut self, ns: &Namespace, name: &str) -> Result<()> {
        let not_found = || StoreError::IndexNotFound {
            namespace: ns.to_string(),
            index: name.to_owned(),
        };
        let Some(mut entry) = self.entry(ns)? else {
            return Err(StoreError::NamespaceNotFound(ns.to_string()));
        };
        if name == ID_INDEX {
            return Err(StoreError::InvalidIndex {
                index: name.to_owned(),
                reason: "the `_id_` index cannot be dropped".to_owned(),
            });
        }
        let position = entry
            .indexes
            .iter()
            .position(|index| index.name == name)
            .ok_or_else(not_found)?;
        let index = entry.indexes.remove(position);
        self.txn
            .delete_table(BytesTable::new(&index.table_name()))?;
        self.save_entry(ns, Some(entry))
    }
}

struct IndexChange {
    added: Vec<Vec<u8>>,
    removed: Vec<Vec<u8>>,
    multikey: bool,
}

fn key_document(index: &IndexSpec, doc: &Document) -> Document {
    Document::from_iter([("key".to_owned(), Bson::String(describe_key(index, doc)))])
}

fn duplicate(ns: &Namespace, index: &str, key: &Document) -> StoreError {
    let shown: String = key.to_string().chars().take(200).collect();
    StoreError::DuplicateKey {
        namespace: ns.to_string(),
        index: index.to_owned(),
        key: shown,
    }
}

/// `new` with `old`'s `_id` first; changing `_id` is an `ImmutableField` error.
fn keep_id(old: &Document, mut new: Document) -> Result<Document> {
    let old_id = old.get("_id").cloned().unwrap_or(Bson::Null);
    if let Some(new_id) = new.remove("_id") {
        if new_id != old_id && !rampart_mql::values_equal(&new_id, &old_id) {
            return Err(MqlError::new(
                ErrorKind::ImmutableField,
                "the update would change the immutable field `_id`",
            )
            .into());
        }
    }
    let mut out = Document::new();
    out.insert("_id", old_id);
    out.extend(new);
    Ok(out)
}

/// Checks a document about to be stored and returns its encoding: no empty top-level field
/// name, a valid `_id`, at most 100 levels deep and 16 MiB. Like MongoDB 5.0+, `$`-prefixed
/// and dotted field names are stored as they are (the CRUD conformance tests pin this), except
/// inside `_id`.
pub(crate) fn validate(doc: &Document) -> Result<Vec<u8>> {
    if doc.keys().any(String::is_empty) {
        return Err(MqlError::new(
            ErrorKind::InvalidFieldName,
            "a stored document cannot have an empty top-level field name",
        )
        .into());
    }
    match doc.get("_id") {
        Some(Bson::Array(_)) | Some(Bson::RegularExpression(_)) | Some(Bson::Undefined) => {
            return Err(MqlError::bad_value(
                "`_id` cannot be an array, a regular expression or undefined",
            )
            .into())
        }
        Some(Bson::Document(id)) if has_dollar_field(id) => {
            return Err(MqlError::new(
                ErrorKind::InvalidFieldName,
                "`_id` cannot contain `$`-prefixed field names",
            )
            .into())
        }
        _ => {}
    }
    check_depth(doc)?;
    let bytes = doc.to_vec().map_err(|error| {
        StoreError::Query(MqlError::bad_value(format!(
            "document cannot be encoded: {error}"
        )))
    })?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(StoreError::DocumentTooLarge {
            size: bytes.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    Ok(bytes)
}

fn has_dollar_field(doc: &Document) -> bool {
    doc.iter().any(|(name, value)| {
        name.starts_with('$') || matches!(value, Bson::Document(inner) if has_dollar_field(inner))
    })
}
