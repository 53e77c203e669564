//! The benchmark scripts: every `*.lua` file of the scripts directory.

use std::path::{Path, PathBuf};

/// One benchmark program. It prints a single checksum line.
pub struct Script {
    /// File stem, e.g. `fib`.
    pub name: String,
    pub source: Vec<u8>,
}

impl Script {
    /// Chunk name given to every VM's compiler.
    pub fn chunk_name(&self) -> String {
        format!("@{}.lua", self.name)
    }
}

/// The scripts shipped with this crate.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

/// Loads the scripts of `dir` whose name contains one of `filters` (all when empty),
/// sorted by name.
pub fn load(dir: &Path, filters: &[String]) -> Result<Vec<Script>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut scripts = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some("lua") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let source =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        scripts.push(Script {
            name: name.to_string(),
            source,
        });
    }
    scripts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(scripts)
}
