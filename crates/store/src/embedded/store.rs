//! `Store` for [`EmbeddedStore`]: reads on read snapshots, writes as write transactions.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::marker::PhantomData;

use bson::{Bson, Document, RawDocumentBuf};
use rampart_mql::{CollectionSource, Filter, MqlError, Pipeline, Variables};
use redb::{ReadTransaction, ReadableTableMetadata};

use super::catalog::{self, BytesTable, CollectionEntry, IndexSpec, CATALOG, ID_INDEX};
use super::plan;
use super::read::{self, CompiledFind, Materialized, Stored, Streaming};
use super::write::WriteTxn;
use super::EmbeddedStore;
use crate::api::{
    Cursor, FindOneAndModifyOptions, FindOptions, IndexDescription, IndexModel, QueryPlan,
    RawCursor, Store, TransactionBody, UpdateOptions, UpdateResult,
};
use crate::error::{BulkWriteFailure, Result, StoreError};
use crate::namespace::{validate_database, Namespace};

impl EmbeddedStore {
    /// Every `(database, collection)` in the catalog, sorted.
    fn namespaces(&self, txn: &ReadTransaction) -> Result<Vec<(String, String)>> {
        let table = txn.open_table(CATALOG)?;
        let mut out = Vec::new();
        for row in table.range::<&str>(..)? {
            let (key, _) = row?;
            if let Some((db, coll)) = catalog::split_key(key.value()) {
                out.push((db.to_owned(), coll.to_owned()));
            }
        }
        Ok(out)
    }

    fn entry(&self, txn: &ReadTransaction, ns: &Namespace) -> Result<Option<CollectionEntry>> {
        catalog::read_entry(&txn.open_table(CATALOG)?, ns)
    }

    /// Matching documents on a fresh snapshot, in `_id` order.
    /// The matches of `filter`, the first `stop_after` of them when given.
    fn read_matching<D: Stored>(
        &self,
        ns: &Namespace,
        filter: &Document,
        stop_after: Option<usize>,
    ) -> Result<Vec<D>> {
        let filter = Filter::compile(filter)?;
        let txn = self.read()?;
        let Some(entry) = self.entry(&txn, ns)? else {
            return Ok(Vec::new());
        };
        let plan = plan::choose(&filter, &entry);
        let hits = read::matching(&txn, &entry, &filter, &plan, stop_after)?;
        Ok(hits.into_iter().map(|hit| hit.doc).collect())
    }

    /// `find` and `find_raw`: one implementation over both outputs. Without a sort, documents
    /// stream from the snapshot batch by batch; with one, every match is read and sorted first
    /// (raw matches by their sort fields alone, see [`Stored::sort`]). A projection on raw
    /// output decodes, projects and re-encodes each returned document.
    fn find_as<D: Stored>(&self, ns: &Namespace, options: FindOptions) -> Result<Cursor<D>> {
        let find = CompiledFind::compile(&options)?;
        let txn = self.read()?;
        let Some(entry) = self.entry(&txn, ns)? else {
            return Ok(Cursor::new(
                Box::new(Materialized(VecDeque::new())),
                options.batch_size,
            ));
        };
        let plan = plan::choose(&find.filter, &entry);
        if find.sort.is_some() {
            let hits = read::matching(&txn, &entry, &find.filter, &plan, None)?;
            let docs = read::finish_sorted(hits, &find)?;
            return Ok(Cursor::new(
                Box::new(Materialized(docs)),
                options.batch_size,
            ));
        }
        let source = Streaming {
            docs: txn.open_table(BytesTable::new(&entry.docs_table_name()))?,
            candidates: read::Candidates::new(&txn, &plan)?,
            to_skip: find.skip,
            remaining: find.limit,
            find,
            output: PhantomData,
        };
        Ok(Cursor::new(Box::new(source), options.batch_size))
    }
}

/// Canonical index name: `a_1_b_-1`.
fn default_index_name(keys: &Document) -> String {
    keys.iter()
        .map(|(field, direction)| match direction {
            Bson::Int32(value) => format!("{field}_{value}"),
            Bson::Int64(value) => format!("{field}_{value}"),
            Bson::Double(value) => format!("{field}_{value}"),
            other => format!("{field}_{other}"),
        })
        .collect::<Vec<_>>()
        .join("_")
}

fn check_index_model(model: &IndexModel, name: &str) -> Result<()> {
    let invalid = |reason: &str| StoreError::InvalidIndex {
        index: name.to_owned(),
        reason: reason.to_owned(),
    };
    if model.keys.is_empty() {
        return Err(invalid("the key pattern is empty"));
    }
    if name.is_empty() {
        return Err(invalid("the index name is empty"));
    }
    for (field, direction) in &model.keys {
        if field.is_empty() || field.split('.').any(str::is_empty) || field.starts_with('$') {
            return Err(invalid("a key field name is empty or starts with `$`"));
        }
        let valid = matches!(rampart_mql::number(direction), Some(n) if n.as_f64() == 1.0 || n.as_f64() == -1.0);
        if !valid {
            return Err(invalid("key directions must be 1 or -1"));
        }
    }
    Ok(())
}

/// Creates an index unless an identical one exists.
fn create_index(txn: &mut WriteTxn, ns: &Namespace, model: IndexModel) -> Result<String> {
    let name = model
        .name
        .clone()
        .unwrap_or_else(|| default_index_name(&model.keys));
    check_index_model(&model, &name)?;
    let entry = txn.ensure_collection(ns)?;
    let is_id_index = model.keys.keys().eq(["_id"]);
    if is_id_index || name == ID_INDEX {
        if is_id_index && (name == ID_INDEX || model.name.is_none()) && !model.unique {
            return Ok(ID_INDEX.to_owned());
        }
        return Err(StoreError::InvalidIndex {
            index: name,
            reason: "conflicts with the `_id_` index".to_owned(),
        });
    }
    let same_keys = |index: &&IndexSpec| index.keys == model.keys;
    if let Some(existing) = entry
        .index(&name)
        .or_else(|| entry.indexes.iter().find(same_keys))
    {
        if existing.name == name && existing.keys == model.keys && existing.unique == model.unique {
            return Ok(name);
        }
        return Err(StoreError::InvalidIndex {
            index: name,
            reason: format!("conflicts with the existing index `{}`", existing.name),
        });
    }
    let spec = IndexSpec::new(
        name.clone(),
        model.keys,
        model.unique,
        catalog::allocate_table_id(&txn.txn)?,
    );
    txn.build_index(ns, spec)?;
    Ok(name)
}

/// `$lookup` reads its foreign collections from the aggregation's own snapshot.
struct SnapshotSource<'a> {
    store: &'a EmbeddedStore,
    txn: &'a ReadTransaction,
    database: &'a str,
}

impl CollectionSource for SnapshotSource<'_> {
    fn documents(&self, collection: &str) -> rampart_mql::Result<Vec<Document>> {
        let load = || -> Result<Vec<Document>> {
            let ns = Namespace::new(self.database, collection)?;
            let Some(entry) = self.store.entry(self.txn, &ns)? else {
                return Ok(Vec::new());
            };
            let plan = plan::Plan {
                access: plan::Access::Scan,
                constraint: None,
            };
            let all = Filter::compile(&Document::new())?;
            Ok(read::matching(self.txn, &entry, &all, &plan, None)?
                .into_iter()
                .map(|hit| hit.doc)
                .collect())
        };
        load().map_err(|error| match error {
            StoreError::Query(error) => error,
            other => MqlError::bad_value(format!("`$lookup` cannot read `{collection}`: {other}")),
        })
    }
}

impl Store for EmbeddedStore {
    fn list_databases(&self) -> Result<Vec<String>> {
        let names: BTreeSet<String> = self
            .namespaces(&self.read()?)?
            .into_iter()
            .map(|(db, _)| db)
            .collect();
        Ok(names.into_iter().collect())
    }

    fn drop_database(&self, database: &str) -> Result<bool> {
        validate_database(database)?;
        self.write(|txn| {
            let namespaces = self.namespaces(&self.read()?)?;
            let mut dropped = false;
            for (db, coll) in namespaces.iter().filter(|(db, _)| db == database) {
                dropped |= txn.drop_collection(&Namespace::new(db, coll)?)?;
            }
            Ok(dropped)
        })
    }

    fn list_collections(&self, database: &str) -> Result<Vec<String>> {
        validate_database(database)?;
        let namespaces = self.namespaces(&self.read()?)?;
        Ok(namespaces
            .into_iter()
            .filter(|(db, _)| db == database)
            .map(|(_, coll)| coll)
            .collect())
    }

    fn create_collection(&self, ns: &Namespace) -> Result<()> {
        self.write(|txn| {
            if txn.entry(ns)?.is_some() {
                return Err(StoreError::NamespaceExists(ns.to_string()));
            }
            txn.ensure_collection(ns).map(|_| ())
        })
    }

    fn drop_collection(&self, ns: &Namespace) -> Result<bool> {
        self.write(|txn| txn.drop_collection(ns))
    }

    fn create_index(&self, ns: &Namespace, index: IndexModel) -> Result<String> {
        self.write(|txn| create_index(txn, ns, index))
    }

    fn drop_index(&self, ns: &Namespace, name: &str) -> Result<()> {
        self.write(|txn| txn.remove_index(ns, name))
    }

    fn list_indexes(&self, ns: &Namespace) -> Result<Vec<IndexDescription>> {
        let txn = self.read()?;
        let entry = self
            .entry(&txn, ns)?
            .ok_or_else(|| StoreError::NamespaceNotFound(ns.to_string()))?;
        let mut out = vec![IndexDescription {
            name: ID_INDEX.to_owned(),
            keys: bson::doc! { "_id": 1 },
            unique: true,
        }];
        out.extend(entry.indexes.iter().map(IndexSpec::describe));
        Ok(out)
    }

    fn find(&self, ns: &Namespace, options: FindOptions) -> Result<Cursor> {
        self.find_as(ns, options)
    }

    fn find_raw(&self, ns: &Namespace, options: FindOptions) -> Result<RawCursor> {
        self.find_as(ns, options)
    }

    fn count_documents(
        &self,
        ns: &Namespace,
        filter: &Document,
        skip: u64,
        limit: Option<u64>,
    ) -> Result<u64> {
        let (skip, limit) = read::window(skip, limit);
        // Counting keeps nothing of a match, and a limit stops the scan once it is reached.
        let stop_after = (limit != usize::MAX).then(|| skip.saturating_add(limit));
        let count = self
            .read_matching::<read::Counted>(ns, filter, stop_after)?
            .len();
        Ok(count.saturating_sub(skip).min(limit) as u64)
    }

    fn estimated_document_count(&self, ns: &Namespace) -> Result<u64> {
        let txn = self.read()?;
        match self.entry(&txn, ns)? {
            Some(entry) => Ok(txn
                .open_table(BytesTable::new(&entry.docs_table_name()))?
                .len()?),
            None => Ok(0),
        }
    }

    fn distinct(&self, ns: &Namespace, field: &str, filter: &Document) -> Result<Vec<Bson>> {
        let path = rampart_mql::FieldPath::parse(field)?;
        let mut values = Vec::new();
        for doc in self.read_matching::<RawDocumentBuf>(ns, filter, None)? {
            read::distinct_values(&doc, path.parts(), &mut values)?;
        }
        Ok(read::dedup_values(values))
    }

    fn insert_one(&self, ns: &Namespace, doc: Document) -> Result<Bson> {
        self.write(|txn| txn.insert_document(ns, doc))
    }

    fn insert_many(&self, ns: &Namespace, docs: Vec<Document>, ordered: bool) -> Result<Vec<Bson>> {
        let (inserted_ids, errors) = self.write(|txn| {
            let mut inserted = BTreeMap::new();
            let mut errors = Vec::new();
            for (position, doc) in docs.into_iter().enumerate() {
                match txn.insert_document(ns, doc) {
                    Ok(id) => {
                        inserted.insert(position, id);
                    }
                    // Per-document failures are checked before anything is written, so the
                    // transaction stays clean and the documents before it are kept.
                    Err(
                        error @ (StoreError::DuplicateKey { .. }
                        | StoreError::Query(_)
                        | StoreError::DocumentTooLarge { .. }),
                    ) => {
                        errors.push((position, error));
                        if ordered {
                            break;
                        }
                    }
                    Err(other) => return Err(other),
                }
            }
            Ok((inserted, errors))
        })?;
        if errors.is_empty() {
            return Ok(inserted_ids.into_values().collect());
        }
        Err(StoreError::BulkWrite(Box::new(BulkWriteFailure {
            inserted_ids,
            errors,
        })))
    }

    fn update_one(
        &self,
        ns: &Namespace,
        filter: &Document,
        update: &Bson,
        options: &UpdateOptions,
    ) -> Result<UpdateResult> {
        self.write(|txn| txn.update_documents(ns, filter, update, false, options))
    }

    fn update_many(
        &self,
        ns: &Namespace,
        filter: &Document,
        update: &Bson,
        options: &UpdateOptions,
    ) -> Result<UpdateResult> {
        self.write(|txn| txn.update_documents(ns, filter, update, true, options))
    }

    fn replace_one(
        &self,
        ns: &Namespace,
        filter: &Document,
        replacement: Document,
        options: &UpdateOptions,
    ) -> Result<UpdateResult> {
        self.write(|txn| txn.replace_one(ns, filter, replacement, options))
    }

    fn delete_one(&self, ns: &Namespace, filter: &Document) -> Result<u64> {
        self.write(|txn| txn.delete_documents(ns, filter, false))
    }

    fn delete_many(&self, ns: &Namespace, filter: &Document) -> Result<u64> {
        self.write(|txn| txn.delete_documents(ns, filter, true))
    }

    fn find_one_and_update(
        &self,
        ns: &Namespace,
        filter: &Document,
        update: &Bson,
        options: &FindOneAndModifyOptions,
    ) -> Result<Option<Document>> {
        self.write(|txn| txn.find_one_and_update(ns, filter, update, options))
    }

    fn find_one_and_replace(
        &self,
        ns: &Namespace,
        filter: &Document,
        replacement: Document,
        options: &FindOneAndModifyOptions,
    ) -> Result<Option<Document>> {
        self.write(|txn| txn.find_one_and_replace(ns, filter, replacement, options))
    }

    fn find_one_and_delete(
        &self,
        ns: &Namespace,
        filter: &Document,
        options: &FindOneAndModifyOptions,
    ) -> Result<Option<Document>> {
        self.write(|txn| txn.find_one_and_delete(ns, filter, options))
    }

    fn aggregate(&self, ns: &Namespace, pipeline: &[Document]) -> Result<Vec<Document>> {
        let compiled = Pipeline::compile(pipeline)?;
        let txn = self.read()?;
        let input = match self.entry(&txn, ns)? {
            Some(entry) => {
                // A leading `$match` narrows the input through an index; the pipeline applies
                // it again, so a loose candidate set changes nothing.
                let leading = pipeline
                    .first()
                    .and_then(|stage| stage.get_document("$match").ok());
                let filter = leading.and_then(|filter| Filter::compile(filter).ok());
                let filter = match filter {
                    Some(filter) => filter,
                    None => Filter::compile(&Document::new())?,
                };
                let plan = plan::choose(&filter, &entry);
                read::matching(&txn, &entry, &filter, &plan, None)?
                    .into_iter()
                    .map(|hit| hit.doc)
                    .collect()
            }
            None => Vec::new(),
        };
        let source = SnapshotSource {
            store: self,
            txn: &txn,
            database: ns.database(),
        };
        Ok(compiled.run(
            input,
            &source,
            &Variables::new().with_now(bson::DateTime::now()),
        )?)
    }

    fn explain(
        &self,
        ns: &Namespace,
        filter: &Document,
        sort: Option<&Document>,
    ) -> Result<QueryPlan> {
        let filter = Filter::compile(filter)?;
        let txn = self.read()?;
        let plan = match self.entry(&txn, ns)? {
            Some(entry) => plan::choose(&filter, &entry),
            None => plan::Plan {
                access: plan::Access::Scan,
                constraint: None,
            },
        };
        Ok(QueryPlan {
            stage: plan.stage(),
            index: plan.index_name(),
            constraint: plan.constraint.clone(),
            in_memory_sort: sort.is_some_and(|sort| !sort.is_empty()),
        })
    }

    fn transaction(&self, body: &mut TransactionBody<'_>) -> Result<()> {
        self.write(|txn| body(txn))
    }
}
