//! The catalog: which collections exist, the tables that hold them, and their index specs.
//!
//! Tables are named by number (`d.<id>` for documents, `x.<id>` for an index), never by the
//! collection's name, so names need no escaping and a dropped-then-recreated collection starts
//! from fresh tables.

use bson::{doc, Bson, Document};
use redb::{ReadableTable, TableDefinition};

use crate::api::IndexDescription;
use crate::error::{Result, StoreError};
use crate::namespace::Namespace;

/// `format_version` and `next_table_id`.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// `db NUL collection` → BSON of [`CollectionEntry`].
pub(crate) const CATALOG: TableDefinition<&str, &[u8]> = TableDefinition::new("catalog");
/// A documents or index table: key bytes → value bytes.
pub(crate) type BytesTable<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

/// The on-disk format this code reads and writes.
pub(crate) const FORMAT_VERSION: u64 = 1;
pub(crate) const FORMAT_KEY: &str = "format_version";
const NEXT_ID_KEY: &str = "next_table_id";

/// The name of the primary key index.
pub(crate) const ID_INDEX: &str = "_id_";

/// One secondary index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IndexSpec {
    pub name: String,
    pub keys: Document,
    /// The dotted paths of `keys`, in order.
    pub paths: Vec<Vec<String>>,
    pub unique: bool,
    /// Set once any document had an array on an indexed path, and never cleared (as in
    /// MongoDB): with arrays, two range predicates may be satisfied by different elements, so
    /// the planner must not intersect bounds on a multikey index.
    pub multikey: bool,
    pub table: u64,
}

/// A collection: its documents table and its indexes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CollectionEntry {
    pub table: u64,
    pub indexes: Vec<IndexSpec>,
}

impl IndexSpec {
    pub(crate) fn new(name: String, keys: Document, unique: bool, table: u64) -> IndexSpec {
        let paths = keys
            .keys()
            .map(|path| path.split('.').map(str::to_owned).collect())
            .collect();
        IndexSpec {
            name,
            keys,
            paths,
            unique,
            multikey: false,
            table,
        }
    }

    pub(crate) fn table_name(&self) -> String {
        format!("x.{}", self.table)
    }

    pub(crate) fn describe(&self) -> IndexDescription {
        IndexDescription {
            name: self.name.clone(),
            keys: self.keys.clone(),
            unique: self.unique,
        }
    }

    fn to_document(&self) -> Document {
        doc! {
            "name": &self.name,
            "keys": self.keys.clone(),
            "unique": self.unique,
            "multikey": self.multikey,
            "table": table_id_bson(self.table),
        }
    }

    fn from_document(doc: &Document) -> Option<IndexSpec> {
        let mut spec = IndexSpec::new(
            doc.get_str("name").ok()?.to_owned(),
            doc.get_document("keys").ok()?.clone(),
            doc.get_bool("unique").ok()?,
            u64::try_from(doc.get_i64("table").ok()?).ok()?,
        );
        spec.multikey = doc.get_bool("multikey").ok()?;
        Some(spec)
    }
}

fn table_id_bson(id: u64) -> Bson {
    Bson::Int64(i64::try_from(id).unwrap_or(i64::MAX))
}

impl CollectionEntry {
    pub(crate) fn docs_table_name(&self) -> String {
        format!("d.{}", self.table)
    }

    pub(crate) fn index(&self, name: &str) -> Option<&IndexSpec> {
        self.indexes.iter().find(|index| index.name == name)
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let indexes: Vec<Bson> = self
            .indexes
            .iter()
            .map(|index| Bson::Document(index.to_document()))
            .collect();
        let doc = doc! { "table": table_id_bson(self.table), "indexes": indexes };
        doc.to_vec().map_err(StoreError::storage)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<CollectionEntry> {
        let damaged = || StoreError::Storage("the catalog entry is damaged".to_owned());
        let doc = Document::from_reader(bytes).map_err(|_| damaged())?;
        let table = doc
            .get_i64("table")
            .ok()
            .and_then(|id| u64::try_from(id).ok())
            .ok_or_else(damaged)?;
        let indexes = doc
            .get_array("indexes")
            .map_err(|_| damaged())?
            .iter()
            .map(|index| match index {
                Bson::Document(index) => IndexSpec::from_document(index),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(damaged)?;
        Ok(CollectionEntry { table, indexes })
    }
}

/// The catalog key of a namespace. Neither name may contain NUL, and NUL sorts first, so the
/// collections of one database are contiguous.
pub(crate) fn catalog_key(ns: &Namespace) -> String {
    format!("{}\0{}", ns.database(), ns.collection())
}

/// Splits a catalog key back into `(database, collection)`.
pub(crate) fn split_key(key: &str) -> Option<(&str, &str)> {
    key.split_once('\0')
}

/// Reads a namespace's entry from any readable catalog table.
pub(crate) fn read_entry(
    catalog: &impl ReadableTable<&'static str, &'static [u8]>,
    ns: &Namespace,
) -> Result<Option<CollectionEntry>> {
    match catalog.get(catalog_key(ns).as_str())? {
        Some(bytes) => Ok(Some(CollectionEntry::decode(bytes.value())?)),
        None => Ok(None),
    }
}

/// Hands out a fresh table number.
pub(crate) fn allocate_table_id(txn: &redb::WriteTransaction) -> Result<u64> {
    let mut meta = txn.open_table(META)?;
    let next = meta.get(NEXT_ID_KEY)?.map_or(1, |value| value.value());
    meta.insert(NEXT_ID_KEY, next + 1)?;
    Ok(next)
}
