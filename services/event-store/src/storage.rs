//! The simulated durable storage behind the in-memory store, as AllSource lays it out: each
//! event is appended to the open WAL segment; a full segment is sealed; sealed segments are
//! flushed into a Parquet file; Parquet files are compacted into one. Nothing touches a disk:
//! only the sizes and counts are kept, which is what the storage metrics report.

/// Sizes and thresholds of the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageConfig {
    /// A WAL segment is sealed when it holds this many bytes.
    pub wal_segment_bytes: u64,
    /// Sealed segments are flushed into a Parquet file when there are this many.
    pub flush_after_segments: usize,
    /// Parquet files are compacted into one when there are this many.
    pub compact_after_files: usize,
}

impl Default for StorageConfig {
    /// Small enough that a few hundred events flush and a few thousand compact, so that a
    /// short run shows every storage metric move.
    fn default() -> Self {
        StorageConfig {
            wal_segment_bytes: 8 * 1024,
            flush_after_segments: 2,
            compact_after_files: 4,
        }
    }
}

/// What one compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    pub files_merged: u64,
    pub bytes_saved: u64,
}

/// The simulated WAL and Parquet files.
#[derive(Debug, Clone)]
pub struct Storage {
    config: StorageConfig,
    open_segment: u64,
    sealed_segments: Vec<u64>,
    parquet_files: Vec<u64>,
}

impl Storage {
    pub fn new(config: StorageConfig) -> Storage {
        Storage {
            config,
            open_segment: 0,
            sealed_segments: Vec::new(),
            parquet_files: Vec::new(),
        }
    }

    /// Appends an event of `bytes` to the WAL, sealing and flushing segments as they fill.
    pub fn append(&mut self, bytes: u64) {
        self.open_segment = self.open_segment.saturating_add(bytes);
        if self.open_segment >= self.config.wal_segment_bytes {
            self.sealed_segments.push(self.open_segment);
            self.open_segment = 0;
        }
        if self.sealed_segments.len() >= self.config.flush_after_segments {
            let wal: u64 = self.sealed_segments.drain(..).sum();
            // Columnar encoding of repetitive JSON events: about half the WAL's bytes.
            self.parquet_files.push(wal / 2);
        }
    }

    /// Whether enough Parquet files have accumulated to compact them.
    pub fn needs_compaction(&self) -> bool {
        self.parquet_files.len() >= self.config.compact_after_files.max(2)
    }

    /// Merges every Parquet file into one; merged dictionaries and dropped page headers save
    /// a fifth of their bytes.
    pub fn compact(&mut self) -> Compaction {
        let merged = self.parquet_files.len() as u64;
        let total: u64 = self.parquet_files.drain(..).sum();
        let saved = total / 5;
        self.parquet_files.push(total - saved);
        Compaction {
            files_merged: merged,
            bytes_saved: saved,
        }
    }

    /// WAL segments, the open one included.
    pub fn wal_segments(&self) -> usize {
        self.sealed_segments.len() + 1
    }

    pub fn parquet_files(&self) -> usize {
        self.parquet_files.len()
    }

    /// Bytes of the WAL and the Parquet files.
    pub fn size_bytes(&self) -> u64 {
        let sealed: u64 = self.sealed_segments.iter().sum();
        let parquet: u64 = self.parquet_files.iter().sum();
        self.open_segment + sealed + parquet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_seal_flush_and_compact() {
        let mut storage = Storage::new(StorageConfig {
            wal_segment_bytes: 100,
            flush_after_segments: 2,
            compact_after_files: 2,
        });
        assert_eq!((storage.wal_segments(), storage.parquet_files()), (1, 0));
        storage.append(100);
        assert_eq!((storage.wal_segments(), storage.size_bytes()), (2, 100));
        storage.append(100);
        // Two sealed segments became one Parquet file of half their bytes.
        assert_eq!((storage.wal_segments(), storage.parquet_files()), (1, 1));
        assert_eq!(storage.size_bytes(), 100);
        assert!(!storage.needs_compaction());
        storage.append(100);
        storage.append(100);
        assert!(storage.needs_compaction());
        let done = storage.compact();
        assert_eq!(
            done,
            Compaction {
                files_merged: 2,
                bytes_saved: 40
            }
        );
        assert_eq!((storage.parquet_files(), storage.size_bytes()), (1, 160));
    }
}
