//! The embedded backend: one redb file, `rampart.redb`, in the data directory.
//!
//! Layout: a `meta` table (format version, table counter), a `catalog` table (collections and
//! their index specs), one documents table per collection (key: the order-preserving encoding
//! of `_id`, value: the document's BSON) and one table per secondary index (key: the encoded
//! index values, followed by the primary key unless the index is unique; value: the primary
//! key). Writes are redb write transactions with immediate durability: acknowledged means on
//! disk. Reads are redb read transactions (MVCC snapshots) and never wait for a writer.

mod catalog;
mod modify;
mod plan;
mod read;
mod store;
mod write;

use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, TableHandle};

use crate::error::{Result, StoreError};
use catalog::{CATALOG, FORMAT_KEY, FORMAT_VERSION, META};
use write::WriteTxn;

/// The file inside the data directory.
pub const FILE_NAME: &str = "rampart.redb";

/// The embedded store. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct EmbeddedStore {
    database: redb::Database,
    path: PathBuf,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish()
    }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`. Fails with `Locked` when another
    /// process or handle has it open, and with `Corrupt` when the file is not a Rampart store,
    /// is of an unknown format version, or fails redb's integrity check.
    pub fn open(dir: &Path) -> Result<EmbeddedStore> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let shown = path.display().to_string();
        // The integrity check reads the whole file once per open; without it redb may trust
        // (and later panic on) a damaged file. A panic while reading a damaged file is still
        // caught and reported as corruption.
        let opened = std::panic::catch_unwind(|| {
            redb::Builder::new()
                .set_check_integrity_on_open(true)
                .create(&path)
        })
        .map_err(|_| corrupt(&shown, "the storage engine could not read it"))?;
        let database = opened.map_err(|error| open_error(&shown, error))?;
        let store = EmbeddedStore { database, path };
        store.check_format()?;
        Ok(store)
    }

    /// The data file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check_format(&self) -> Result<()> {
        let shown = self.path.display().to_string();
        let txn = self.database.begin_read()?;
        let tables: Vec<String> = txn
            .list_tables()?
            .map(|table| table.name().to_owned())
            .collect();
        let version = match txn.open_table(META) {
            Ok(meta) => meta.get(FORMAT_KEY)?.map(|value| value.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(_) => return Err(corrupt(&shown, "it is not a rampart store")),
        };
        drop(txn);
        match version {
            Some(FORMAT_VERSION) => Ok(()),
            Some(other) => Err(corrupt(
                &shown,
                &format!(
                    "it has format version {other}, this build reads version {FORMAT_VERSION}"
                ),
            )),
            None if tables.is_empty() => self.initialize(),
            None => Err(corrupt(&shown, "it is not a rampart store")),
        }
    }

    fn initialize(&self) -> Result<()> {
        let txn = self.database.begin_write()?;
        txn.open_table(META)?.insert(FORMAT_KEY, FORMAT_VERSION)?;
        txn.open_table(CATALOG)?;
        Ok(txn.commit()?)
    }

    /// Runs `body` in one write transaction: commits on `Ok`, aborts on `Err`.
    fn write<T>(&self, body: impl FnOnce(&mut WriteTxn) -> Result<T>) -> Result<T> {
        let mut txn = WriteTxn::new(self.database.begin_write()?);
        let value = body(&mut txn)?;
        txn.commit()?;
        Ok(value)
    }

    fn read(&self) -> Result<redb::ReadTransaction> {
        Ok(self.database.begin_read()?)
    }
}

fn corrupt(path: &str, reason: &str) -> StoreError {
    StoreError::Corrupt {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

fn open_error(path: &str, error: redb::DatabaseError) -> StoreError {
    use redb::{DatabaseError, StorageError};
    match error {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            StoreError::Locked(path.to_owned())
        }
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            corrupt(path, "it is not a redb database file")
        }
        DatabaseError::Storage(StorageError::Corrupted(_)) | DatabaseError::RepairAborted => {
            corrupt(path, "it is damaged")
        }
        DatabaseError::UpgradeRequired(version) => corrupt(
            path,
            &format!("it uses storage file format {version}, which this build does not read"),
        ),
        DatabaseError::Storage(StorageError::Io(io)) => StoreError::Io(io),
        other => StoreError::storage(other),
    }
}
