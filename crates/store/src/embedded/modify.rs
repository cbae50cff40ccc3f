//! Collection-level writes (update, replace, delete, find-and-modify) built from the
//! single-document primitives of [`WriteTxn`], and the [`Transaction`] handle bodies use.

use bson::{Bson, Document};
use rampart_mql::{
    ErrorKind, Filter, MqlError, Projection, SortSpec, Update, UpdateContext, Variables,
};

use crate::api::{
    FindOneAndModifyOptions, ReturnDocument, Transaction, UpdateOptions, UpdateResult,
};
use crate::embedded::plan::id_key;
use crate::embedded::read::{sort_hits, Hit};
use crate::embedded::write::WriteTxn;
use crate::error::Result;
use crate::namespace::Namespace;

/// What an update changed, for `find_one_and_update`.
struct Modified {
    before: Option<Document>,
    after: Option<Document>,
}

impl WriteTxn {
    /// The first match by `sort` (or by `_id` without one).
    fn first_match(
        &mut self,
        ns: &Namespace,
        filter: &Filter,
        sort: Option<&SortSpec>,
    ) -> Result<Option<Hit>> {
        let stop_after = if sort.is_some() { None } else { Some(1) };
        let mut hits = self.matching(ns, filter, stop_after)?;
        if let Some(sort) = sort {
            sort_hits(&mut hits, sort);
        }
        Ok(hits.into_iter().next())
    }

    /// Updates the first (by `sort`) or every match; upserts when nothing matched.
    fn run_update(
        &mut self,
        ns: &Namespace,
        filter: &Document,
        update: &Bson,
        many: bool,
        options: &UpdateOptions,
        sort: Option<&Document>,
    ) -> Result<(UpdateResult, Modified)> {
        let filter = Filter::compile(filter)?;
        let compiled = Update::parse(update, &options.array_filters)?;
        // As the drivers do: whole-document replacement goes through `replace_one`.
        if compiled.is_replacement() {
            return Err(MqlError::new(
                ErrorKind::FailedToParse,
                "an update must be a document of update operators or a pipeline",
            )
            .into());
        }
        let sort = sort.map(SortSpec::compile).transpose()?;
        let hits = if many {
            self.matching(ns, &filter, None)?
        } else {
            self.first_match(ns, &filter, sort.as_ref())?
                .into_iter()
                .collect()
        };
        let variables = Variables::new().with_now(bson::DateTime::now());
        let mut result = UpdateResult::default();
        let mut modified = Modified {
            before: None,
            after: None,
        };
        for hit in hits {
            result.matched_count += 1;
            let context = UpdateContext {
                matched_position: hit.position,
                is_upsert_insert: false,
                variables: variables.clone(),
            };
            let mut updated = hit.doc.clone();
            let after = if compiled.apply(&mut updated, &context)? {
                result.modified_count += 1;
                self.replace_document(ns, &hit, updated)?
            } else {
                updated
            };
            modified = Modified {
                before: Some(hit.doc),
                after: Some(after),
            };
        }
        if result.matched_count == 0 && options.upsert {
            let context = UpdateContext {
                matched_position: None,
                is_upsert_insert: true,
                variables,
            };
            let doc = compiled.upsert_document(&filter, &context)?;
            let id = self.insert_document(ns, doc)?;
            modified.after = self.get(ns, &id)?;
            result.upserted_id = Some(id);
        }
        Ok((result, modified))
    }

    /// Replaces the first match (by `sort`) with `replacement`; upserts when asked.
    fn run_replace(
        &mut self,
        ns: &Namespace,
        filter: &Document,
        replacement: Document,
        upsert: bool,
        sort: Option<&Document>,
    ) -> Result<(UpdateResult, Modified)> {
        if let Some(name) = replacement.keys().find(|name| name.starts_with('$')) {
            return Err(MqlError::new(
                ErrorKind::FailedToParse,
                format!("a replacement document cannot contain the operator `{name}`"),
            )
            .into());
        }
        let filter = Filter::compile(filter)?;
        let sort = sort.map(SortSpec::compile).transpose()?;
        let mut result = UpdateResult::default();
        if let Some(hit) = self.first_match(ns, &filter, sort.as_ref())? {
            result.matched_count = 1;
            let unchanged = same_content(&hit.doc, &replacement);
            let after = self.replace_document(ns, &hit, replacement)?;
            result.modified_count = u64::from(!unchanged);
            return Ok((
                result,
                Modified {
                    before: Some(hit.doc),
                    after: Some(after),
                },
            ));
        }
        if !upsert {
            return Ok((
                result,
                Modified {
                    before: None,
                    after: None,
                },
            ));
        }
        let mut doc = replacement;
        if !doc.contains_key("_id") {
            if let Some(id) = filter.upsert_seed()?.get("_id") {
                doc.insert("_id", id.clone());
            }
        }
        let id = self.insert_document(ns, doc)?;
        let after = self.get(ns, &id)?;
        result.upserted_id = Some(id);
        Ok((
            result,
            Modified {
                before: None,
                after,
            },
        ))
    }

    fn run_delete(
        &mut self,
        ns: &Namespace,
        filter: &Filter,
        many: bool,
        sort: Option<&SortSpec>,
    ) -> Result<Vec<Hit>> {
        let hits = if many {
            self.matching(ns, filter, None)?
        } else {
            self.first_match(ns, filter, sort)?.into_iter().collect()
        };
        for hit in &hits {
            self.delete_document(ns, hit)?;
        }
        Ok(hits)
    }

    pub(crate) fn update_documents(
        &mut self,
        ns: &Namespace,
        filter: &Document,
        update: &Bson,
        many: bool,
        options: &UpdateOptions,
    ) -> Result<UpdateResult> {
        let sort = if many { None } else { options.sort.as_ref() };
        Ok(self.run_update(ns, filter, update, many, options, sort)?.0)
    }

    pub(crate) fn replace_one(
        &mut self,
        ns: &Namespace,
        filter: &Document,
        replacement: Document,
        options: &UpdateOptions,
    ) -> Result<UpdateResult> {
        let sort = options.sort.as_ref();
        Ok(self
            .run_replace(ns, filter, replacement, options.upsert, sort)?
            .0)
    }

    pub(crate) fn delete_documents(
        &mut self,
        ns: &Namespace,
        filter: &Document,
        many: bool,
    ) -> Result<u64> {
        let filter = Filter::compile(filter)?;
        Ok(self.run_delete(ns, &filter, many, None)?.len() as u64)
    }

    pub(crate) fn find_one_and_update(
        &mut self,
        ns: &Namespace,
        filter: &Document,
        update: &Bson,
        options: &FindOneAndModifyOptions,
    ) -> Result<Option<Document>> {
        let update_options = UpdateOptions {
            upsert: options.upsert,
            array_filters: options.array_filters.clone(),
            sort: None,
        };
        let (_, modified) = self.run_update(
            ns,
            filter,
            update,
            false,
            &update_options,
            options.sort.as_ref(),
        )?;
        returned(modified, options)
    }

    pub(crate) fn find_one_and_replace(
        &mut self,
        ns: &Namespace,
        filter: &Document,
        replacement: Document,
        options: &FindOneAndModifyOptions,
    ) -> Result<Option<Document>> {
        let (_, modified) = self.run_replace(
            ns,
            filter,
            replacement,
            options.upsert,
            options.sort.as_ref(),
        )?;
        returned(modified, options)
    }

    pub(crate) fn find_one_and_delete(
        &mut self,
        ns: &Namespace,
        filter: &Document,
        options: &FindOneAndModifyOptions,
    ) -> Result<Option<Document>> {
        let filter = Filter::compile(filter)?;
        let sort = options.sort.as_ref().map(SortSpec::compile).transpose()?;
        let deleted = self.run_delete(ns, &filter, false, sort.as_ref())?;
        let before = deleted.into_iter().next().map(|hit| hit.doc);
        project(before, options.projection.as_ref())
    }
}

/// Whether a replacement leaves the document as it is (MongoDB then reports no modification).
fn same_content(stored: &Document, replacement: &Document) -> bool {
    let mut stored = stored.clone();
    let mut replacement = replacement.clone();
    stored.remove("_id");
    replacement.remove("_id");
    stored == replacement
}

fn returned(modified: Modified, options: &FindOneAndModifyOptions) -> Result<Option<Document>> {
    let doc = match options.return_document {
        ReturnDocument::Before => modified.before,
        ReturnDocument::After => modified.after,
    };
    project(doc, options.projection.as_ref())
}

fn project(doc: Option<Document>, projection: Option<&Document>) -> Result<Option<Document>> {
    match (doc, projection) {
        (Some(doc), Some(projection)) => {
            Ok(Some(Projection::compile(projection)?.apply(&doc, None)?))
        }
        (doc, _) => Ok(doc),
    }
}

impl Transaction for WriteTxn {
    fn find(&mut self, ns: &Namespace, filter: &Document) -> Result<Vec<Document>> {
        let filter = Filter::compile(filter)?;
        Ok(self
            .matching(ns, &filter, None)?
            .into_iter()
            .map(|hit| hit.doc)
            .collect())
    }

    fn get(&mut self, ns: &Namespace, id: &Bson) -> Result<Option<Document>> {
        WriteTxn::get(self, ns, id)
    }

    fn insert(&mut self, ns: &Namespace, doc: Document) -> Result<Bson> {
        self.insert_document(ns, doc)
    }

    fn replace(&mut self, ns: &Namespace, doc: Document) -> Result<bool> {
        let Some(id) = doc.get("_id").cloned() else {
            return Err(MqlError::bad_value("a replacement by `_id` needs an `_id`").into());
        };
        let Some(old) = WriteTxn::get(self, ns, &id)? else {
            return Ok(false);
        };
        let hit = Hit {
            key: id_key(&id),
            doc: old,
            position: None,
        };
        self.replace_document(ns, &hit, doc)?;
        Ok(true)
    }

    fn delete(&mut self, ns: &Namespace, id: &Bson) -> Result<bool> {
        let Some(old) = WriteTxn::get(self, ns, id)? else {
            return Ok(false);
        };
        let hit = Hit {
            key: id_key(id),
            doc: old,
            position: None,
        };
        self.delete_document(ns, &hit)?;
        Ok(true)
    }

    fn update(
        &mut self,
        ns: &Namespace,
        filter: &Document,
        update: &Bson,
        many: bool,
        options: &UpdateOptions,
    ) -> Result<UpdateResult> {
        self.update_documents(ns, filter, update, many, options)
    }

    fn delete_matching(&mut self, ns: &Namespace, filter: &Document, many: bool) -> Result<u64> {
        self.delete_documents(ns, filter, many)
    }
}
