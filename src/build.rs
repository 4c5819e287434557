//! Building function crates into Lambda deployment packages (`bootstrap` in a zip).
//!
//! Packages are byte-for-byte reproducible: the same binary always gives the same zip and so
//! the same CodeSha256, which is what lets `up` see that a function's code is unchanged.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::error::Error;
use crate::spec::model::{Architecture, Spec};

/// A deployment package ready to upload.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Function logical name.
    pub function: String,
    /// The zip file bytes.
    pub zip: Vec<u8>,
    /// Base64 of the SHA-256 of `zip`, the format Lambda reports as CodeSha256.
    pub code_sha256: String,
}

/// Newest glibc of the `provided.al2023` runtime (Amazon Linux 2023 ships glibc 2.34).
pub const RUNTIME_GLIBC: (u32, u32) = (2, 34);

/// The entry Lambda's `provided.*` runtimes execute.
const BOOTSTRAP: &str = "bootstrap";

/// Package an executable as a Lambda deployment zip with a single `bootstrap` entry.
///
/// Deterministic: fixed timestamp (1980-01-01 00:00), fixed mode (0755), fixed compression.
pub fn package(function: &str, bootstrap: &[u8]) -> Result<Artifact, Error> {
    let zip = zip_bootstrap(bootstrap).map_err(|e| Error::Build {
        crate_name: function.to_string(),
        message: format!("writing the deployment zip: {e}"),
    })?;
    Ok(Artifact {
        function: function.to_string(),
        code_sha256: code_sha256(&zip),
        zip,
    })
}

/// Base64 of the SHA-256 of a deployment package, exactly as Lambda reports `CodeSha256`.
pub fn code_sha256(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
}

fn zip_bootstrap(bootstrap: &[u8]) -> zip::result::ZipResult<Vec<u8>> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(DateTime::default())
        .unix_permissions(0o755);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer.start_file(BOOTSTRAP, options)?;
    writer.write_all(bootstrap)?;
    Ok(writer.finish()?.into_inner())
}

/// Refuse a binary that needs a newer glibc than the Lambda runtime has.
///
/// Reads the ELF's version needs (`.gnu.version_r`: the `GLIBC_2.x` versions the dynamic
/// linker checks at load time); a statically linked or musl binary has none and passes. When
/// the section headers cannot be read, falls back to scanning the bytes for `GLIBC_2.x`.
pub fn check_glibc(binary: &[u8]) -> Result<(), String> {
    let needs = elf_version_needs(binary).unwrap_or_else(|| scan_version_strings(binary));
    if needs.iter().any(|n| n == "GLIBC_ABI_DT_RELR") {
        // Packed relative relocations need the loader of glibc 2.36.
        return Err(format!(
            "it needs GLIBC_ABI_DT_RELR (glibc 2.36 or newer), but the Lambda runtime provided.al2023 has glibc {}.{}",
            RUNTIME_GLIBC.0, RUNTIME_GLIBC.1
        ));
    }
    match needs.iter().filter_map(|n| parse_glibc_version(n)).max() {
        Some(v) if (v.0, v.1) > RUNTIME_GLIBC => Err(format!(
            "it needs GLIBC_{}, but the Lambda runtime provided.al2023 has glibc {}.{}",
            v.display(),
            RUNTIME_GLIBC.0,
            RUNTIME_GLIBC.1
        )),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct GlibcVersion(u32, u32, Option<u32>);

impl GlibcVersion {
    fn display(self) -> String {
        match self.2 {
            Some(p) => format!("{}.{}.{}", self.0, self.1, p),
            None => format!("{}.{}", self.0, self.1),
        }
    }
}

/// `GLIBC_2.34` → 2.34, `GLIBC_2.2.5` → 2.2.5; anything else → None.
fn parse_glibc_version(name: &str) -> Option<GlibcVersion> {
    let rest = name.strip_prefix("GLIBC_2.")?;
    let mut parts = rest.split('.');
    let minor = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    parts
        .next()
        .is_none()
        .then_some(GlibcVersion(2, minor, patch))
}

/// Names of the symbol versions the ELF needs from its shared libraries (glibc's are
/// `GLIBC_*`), read from its `SHT_GNU_verneed` section. `None` if this is not a 64-bit
/// little-endian ELF with readable section headers.
fn elf_version_needs(elf: &[u8]) -> Option<Vec<String>> {
    const SHT_GNU_VERNEED: usize = 0x6fff_fffe;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return None;
    }
    let u16_at = |base: usize, off: usize| -> Option<usize> {
        let at = base.checked_add(off)?;
        Some(u16::from_le_bytes(elf.get(at..at.checked_add(2)?)?.try_into().ok()?) as usize)
    };
    let u32_at = |base: usize, off: usize| -> Option<usize> {
        let at = base.checked_add(off)?;
        usize::try_from(u32::from_le_bytes(
            elf.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
        .ok()
    };
    let u64_at = |base: usize, off: usize| -> Option<usize> {
        let at = base.checked_add(off)?;
        usize::try_from(u64::from_le_bytes(
            elf.get(at..at.checked_add(8)?)?.try_into().ok()?,
        ))
        .ok()
    };
    let shoff = u64_at(0, 0x28)?;
    let shentsize = u16_at(0, 0x3a)?;
    let shnum = u16_at(0, 0x3c)?;
    if shoff == 0 || shnum == 0 || shentsize < 64 {
        return None;
    }
    let section = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    let mut needs = Vec::new();
    for i in 0..shnum {
        let sh = section(i)?;
        if u32_at(sh, 4)? != SHT_GNU_VERNEED {
            continue;
        }
        let (offset, entries, link) = (u64_at(sh, 24)?, u32_at(sh, 44)?, u32_at(sh, 40)?);
        let strtab = section(link)?;
        let (str_off, str_size) = (u64_at(strtab, 24)?, u64_at(strtab, 32)?);
        let strings = elf.get(str_off..str_off.checked_add(str_size)?)?;
        let string = |at: usize| -> Option<String> {
            let bytes = strings.get(at..)?;
            let end = bytes.iter().position(|b| *b == 0)?;
            Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
        };
        // Verneed entries (16 bytes: version, count, file, aux, next), each followed by
        // `count` Vernaux entries (16 bytes: hash, flags, other, name, next).
        let mut entry = offset;
        for _ in 0..entries.min(4096) {
            let (count, aux, next) = (u16_at(entry, 2)?, u32_at(entry, 8)?, u32_at(entry, 12)?);
            let mut vernaux = entry.checked_add(aux)?;
            for _ in 0..count {
                needs.push(string(u32_at(vernaux, 8)?)?);
                match u32_at(vernaux, 12)? {
                    0 => break,
                    n => vernaux = vernaux.checked_add(n)?,
                }
            }
            match next {
                0 => break,
                n => entry = entry.checked_add(n)?,
            }
        }
    }
    Some(needs)
}

/// Fallback: every `GLIBC_2.x[.y]` / `GLIBC_ABI_DT_RELR` string anywhere in the bytes.
fn scan_version_strings(binary: &[u8]) -> Vec<String> {
    const NEEDLE: &[u8] = b"GLIBC_";
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&binary[from..], NEEDLE) {
        let start = from + at;
        let len = binary[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'.')
            .count();
        found.push(
            String::from_utf8_lossy(&binary[start..start + len])
                .trim_end_matches('.')
                .to_string(),
        );
        from = start + NEEDLE.len();
    }
    found
}

/// The highest glibc version the binary needs.
#[cfg(test)]
fn newest_glibc(binary: &[u8]) -> Option<GlibcVersion> {
    elf_version_needs(binary)
        .unwrap_or_else(|| scan_version_strings(binary))
        .iter()
        .filter_map(|n| parse_glibc_version(n))
        .max()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Check that `binary` can run as `bootstrap` on Lambda with the given architecture:
/// a 64-bit little-endian Linux ELF for the right machine, with a glibc the runtime has.
fn check_bootstrap(binary: &[u8], arch: Architecture) -> Result<(), String> {
    const EM_X86_64: u16 = 62;
    const EM_AARCH64: u16 = 183;
    if binary.len() < 20 || &binary[..4] != b"\x7fELF" {
        return Err(
            "it is not an ELF executable (Lambda runs Linux binaries; build for Linux)".into(),
        );
    }
    if binary[4] != 2 || binary[5] != 1 {
        return Err("it is not a 64-bit little-endian ELF executable".into());
    }
    let machine = u16::from_le_bytes([binary[18], binary[19]]);
    let (want, want_name) = match arch {
        Architecture::X86_64 => (EM_X86_64, "x86_64"),
        Architecture::Arm64 => (EM_AARCH64, "arm64 (aarch64)"),
    };
    if machine != want {
        let have = match machine {
            EM_X86_64 => "x86_64".to_string(),
            EM_AARCH64 => "aarch64".to_string(),
            other => format!("ELF machine {other}"),
        };
        return Err(format!(
            "it is built for {have}, but the function's architecture is {want_name}"
        ));
    }
    check_glibc(binary)
}

/// Build (or take prebuilt) and package the code of every function in the spec.
///
/// Returns artifacts keyed by function logical name; functions that share a crate share
/// the same package bytes.
pub fn build_functions(
    spec: &Spec,
    root: &Path,
    prebuilt: Option<&Path>,
) -> Result<HashMap<String, Artifact>, Error> {
    build_crates(spec, root, prebuilt, None)
}

/// [`build_functions`] for the functions of the crates in `only` (all when `None`): what
/// `orderflow dev` rebuilds when one crate changed.
pub fn build_crates(
    spec: &Spec,
    root: &Path,
    prebuilt: Option<&Path>,
    only: Option<&[String]>,
) -> Result<HashMap<String, Artifact>, Error> {
    // crate → architecture; two functions sharing a crate must agree on it, since they
    // share one binary.
    let mut crates: BTreeMap<&str, Architecture> = BTreeMap::new();
    for (name, f) in &spec.functions {
        match crates.insert(&f.crate_name, f.architecture) {
            Some(other) if other != f.architecture => {
                return Err(Error::Build {
                    crate_name: f.crate_name.clone(),
                    message: format!(
                        "functions using this crate declare different architectures (function {name} wants {}); one binary cannot serve both",
                        f.architecture.as_str()
                    ),
                })
            }
            _ => {}
        }
    }
    if crates.is_empty() {
        return Ok(HashMap::new());
    }

    let binaries: BTreeMap<&str, Binary> = match prebuilt {
        Some(dir) => crates
            .keys()
            .map(|c| Ok((*c, find_prebuilt(dir, c)?)))
            .collect::<Result<_, Error>>()?,
        None => {
            for (crate_name, arch) in &crates {
                check_host_can_build(crate_name, *arch)?;
            }
            // Every function crate, even when only some are wanted: cargo recompiles only
            // what changed, and the dependencies keep the features of the whole set (built
            // alone, a crate would unify fewer features and rebuild its dependencies).
            let names: Vec<&str> = crates.keys().copied().collect();
            cargo_build(root, &names, None)?
                .into_iter()
                .map(|(c, path)| (c, Binary::Executable(path)))
                .collect()
        }
    };
    let wanted = |crate_name: &str| only.is_none_or(|only| only.iter().any(|c| c == crate_name));
    let binaries: BTreeMap<&str, Binary> =
        binaries.into_iter().filter(|(c, _)| wanted(c)).collect();

    let mut packaged: HashMap<&str, Artifact> = HashMap::new();
    for (crate_name, binary) in &binaries {
        let arch = crates[crate_name];
        let artifact = binary.package(crate_name, arch)?;
        packaged.insert(crate_name, artifact);
    }

    Ok(spec
        .functions
        .iter()
        .filter_map(|(name, f)| {
            packaged.get(f.crate_name.as_str()).map(|a| {
                (
                    name.clone(),
                    Artifact {
                        function: name.clone(),
                        zip: a.zip.clone(),
                        code_sha256: a.code_sha256.clone(),
                    },
                )
            })
        })
        .collect())
}

/// Where a crate's code comes from.
#[derive(Debug)]
enum Binary {
    /// An executable to package as `bootstrap`.
    Executable(PathBuf),
    /// A ready deployment package, used as-is.
    Zip(PathBuf),
}

impl Binary {
    fn package(&self, crate_name: &str, arch: Architecture) -> Result<Artifact, Error> {
        let build_err = |message: String| Error::Build {
            crate_name: crate_name.to_string(),
            message,
        };
        match self {
            Binary::Executable(path) => {
                let cache =
                    PackageCache::for_executable(path, crate::local::home().join("packages"));
                if let Some(artifact) = cache.as_ref().and_then(|c| c.load(crate_name, arch)) {
                    return Ok(artifact);
                }
                let bytes = std::fs::read(path)
                    .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                check_bootstrap(&bytes, arch).map_err(|why| {
                    build_err(format!("{} cannot run on Lambda: {why}", path.display()))
                })?;
                let artifact = package(crate_name, &bytes)?;
                if let Some(c) = cache {
                    c.store(&artifact.zip, arch);
                }
                Ok(artifact)
            }
            Binary::Zip(path) => {
                let zip = std::fs::read(path)
                    .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                let bootstrap = read_bootstrap(&zip)
                    .map_err(|why| build_err(format!("{}: {why}", path.display())))?;
                check_bootstrap(&bootstrap, arch).map_err(|why| {
                    build_err(format!(
                        "{}: its bootstrap cannot run on Lambda: {why}",
                        path.display()
                    ))
                })?;
                Ok(Artifact {
                    function: crate_name.to_string(),
                    code_sha256: code_sha256(&zip),
                    zip,
                })
            }
        }
    }
}

/// The executable `bootstrap` entry of a deployment zip.
fn read_bootstrap(zip: &[u8]) -> Result<Vec<u8>, String> {
    let mut archive =
        ZipArchive::new(Cursor::new(zip)).map_err(|e| format!("not a readable zip file: {e}"))?;
    let mut entry = archive.by_name(BOOTSTRAP).map_err(|_| {
        "the zip has no top-level `bootstrap` entry, which provided.al2023 executes".to_string()
    })?;
    if !entry.is_file() {
        return Err("`bootstrap` in the zip is not a file".into());
    }
    if entry.unix_mode().is_some_and(|m| m & 0o111 == 0) {
        return Err("`bootstrap` in the zip is not executable (mode lacks the x bits)".into());
    }
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading `bootstrap` from the zip: {e}"))?;
    Ok(bytes)
}

/// `<dir>/<crate>` (an executable), `<dir>/<crate>/bootstrap`, or `<dir>/<crate>.zip`.
fn find_prebuilt(dir: &Path, crate_name: &str) -> Result<Binary, Error> {
    let plain = dir.join(crate_name);
    let nested = plain.join(BOOTSTRAP);
    let zip = dir.join(format!("{crate_name}.zip"));
    if plain.is_file() {
        return Ok(Binary::Executable(plain));
    }
    if nested.is_file() {
        return Ok(Binary::Executable(nested));
    }
    if zip.is_file() {
        return Ok(Binary::Zip(zip));
    }
    Err(Error::Build {
        crate_name: crate_name.to_string(),
        message: format!(
            "no prebuilt code found; tried {}, {} and {}",
            plain.display(),
            nested.display(),
            zip.display()
        ),
    })
}

/// A native build only produces a Lambda-compatible binary on Linux with the function's
/// architecture.
fn check_host_can_build(crate_name: &str, arch: Architecture) -> Result<(), Error> {
    let host_arch = std::env::consts::ARCH;
    let host_os = std::env::consts::OS;
    let wanted = match arch {
        Architecture::X86_64 => "x86_64",
        Architecture::Arm64 => "aarch64",
    };
    if host_os != "linux" || host_arch != wanted {
        return Err(Error::Build {
            crate_name: crate_name.to_string(),
            message: format!(
                "the function's architecture is {} but this host is {host_os}/{host_arch}, and cross-compiling is not set up; \
                 build the crate for {wanted}-unknown-linux-gnu (glibc ≤ {}.{}) yourself, e.g. with cargo-zigbuild, \
                 and pass --prebuilt <dir>",
                arch.as_str(),
                RUNTIME_GLIBC.0,
                RUNTIME_GLIBC.1
            ),
        });
    }
    Ok(())
}

/// Run one `cargo build --profile lambda` for all crates and return each crate's executable.
/// `target_dir` overrides cargo's (only tests need that).
fn cargo_build<'a>(
    root: &Path,
    crates: &[&'a str],
    target_dir: Option<&Path>,
) -> Result<BTreeMap<&'a str, PathBuf>, Error> {
    let all = crates.join(", ");
    let build_err = |message: String| Error::Build {
        crate_name: all.clone(),
        message,
    };
    let manifest = root.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(build_err(format!(
            "{} does not exist: functions are built from the Cargo workspace next to the pipeline file; \
             pass --prebuilt <dir> to use binaries built elsewhere",
            manifest.display()
        )));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args([
        "build",
        "--profile",
        "lambda",
        "--message-format=json-render-diagnostics",
    ])
    .arg("--manifest-path")
    .arg(&manifest);
    if let Some(dir) = target_dir {
        cmd.arg("--target-dir").arg(dir);
    }
    for c in crates {
        cmd.args(["-p", c]);
    }
    // Compiler progress and errors go straight to the user; stdout carries JSON messages.
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| {
        build_err(if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "`{}` not found: install Rust (https://rustup.rs) or pass --prebuilt <dir>",
                cargo.to_string_lossy()
            )
        } else {
            format!("running `{}`: {e}", cargo.to_string_lossy())
        })
    })?;

    let mut executables: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| build_err(format!("reading cargo's output: {e}")))?;
            if let Some((package, bin, path)) = parse_artifact(&line) {
                executables.entry(package).or_default().push((bin, path));
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| build_err(format!("waiting for cargo: {e}")))?;
    if !status.success() {
        return Err(build_err(format!(
            "`cargo build --profile lambda` failed ({status}); see the compiler output above"
        )));
    }

    crates
        .iter()
        .map(|c| {
            let bins = executables.remove(*c).unwrap_or_default();
            let chosen = match bins.as_slice() {
                [] => None,
                [(_, only)] => Some(only.clone()),
                several => several.iter().find(|(b, _)| b == c).map(|(_, p)| p.clone()),
            };
            chosen.map(|p| (*c, p)).ok_or_else(|| Error::Build {
                crate_name: c.to_string(),
                message: match bins.len() {
                    0 => "cargo built no executable for this package; a function crate needs a binary target".into(),
                    _ => format!(
                        "the package has several binaries ({}); name one after the package",
                        bins.iter().map(|(b, _)| b.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                },
            })
        })
        .collect()
}

/// From one line of cargo's JSON output: (package name, binary name, executable path) of a
/// built binary.
fn parse_artifact(line: &str) -> Option<(String, String, PathBuf)> {
    let msg: serde_json::Value = serde_json::from_str(line).ok()?;
    if msg.get("reason")?.as_str()? != "compiler-artifact" {
        return None;
    }
    let target = msg.get("target")?;
    let is_bin = target
        .get("kind")?
        .as_array()?
        .iter()
        .any(|k| k.as_str() == Some("bin"));
    if !is_bin {
        return None;
    }
    let executable = msg.get("executable")?.as_str()?;
    let package = package_name(msg.get("package_id")?.as_str()?)?;
    let bin = target.get("name")?.as_str()?.to_string();
    Some((package, bin, PathBuf::from(executable)))
}

/// Package name from a cargo package id: either the package-id-spec form
/// (`path+file:///x/functions/validate-order#0.1.0`, `registry+…#name@1.0.0`) or the older
/// `name 0.1.0 (source)` form.
fn package_name(id: &str) -> Option<String> {
    if let Some((url, fragment)) = id.rsplit_once('#') {
        return match fragment.split_once('@') {
            Some((name, _version)) => Some(name.to_string()),
            // Without `name@`, the name is the last path segment of the URL.
            None => url
                .split(['?', '#'])
                .next()?
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .map(str::to_string),
        };
    }
    id.split_whitespace().next().map(str::to_string)
}

/// Packages already made, so an unchanged `plan`/`up` does not re-compress ~20 MB binaries
/// (seconds of CPU) on every run. Keyed like make/cargo freshness: the executable's canonical
/// path, size and modification time; the architecture it was checked for is part of the file
/// name. Entries live under `<orderflow home>/packages/`. A miss or an unreadable entry just
/// means packaging again; a failed store is ignored.
struct PackageCache {
    dir: PathBuf,
    key: String,
}

impl PackageCache {
    fn for_executable(path: &Path, dir: PathBuf) -> Option<PackageCache> {
        let canonical = std::fs::canonicalize(path).ok()?;
        let meta = std::fs::metadata(&canonical).ok()?;
        let mtime = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        let mut h = Sha256::new();
        h.update(canonical.as_os_str().as_encoded_bytes());
        h.update(meta.len().to_le_bytes());
        h.update(mtime.as_nanos().to_le_bytes());
        let key: String = h.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Some(PackageCache { dir, key })
    }

    fn path(&self, arch: Architecture) -> PathBuf {
        self.dir.join(format!("{}-{}.zip", self.key, arch.as_str()))
    }

    /// Only packages that passed `check_bootstrap` for `arch` are stored under its name.
    fn load(&self, function: &str, arch: Architecture) -> Option<Artifact> {
        std::fs::read(self.path(arch)).ok().map(|zip| Artifact {
            function: function.to_string(),
            code_sha256: code_sha256(&zip),
            zip,
        })
    }

    fn store(&self, zip: &[u8], arch: Architecture) {
        let target = self.path(arch);
        let tmp = target.with_extension(format!("tmp{}", std::process::id()));
        let stored = std::fs::create_dir_all(&self.dir)
            .and_then(|()| std::fs::write(&tmp, zip))
            .and_then(|()| std::fs::rename(&tmp, &target));
        if stored.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_cache_hits_for_the_same_file_and_misses_after_a_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("bootstrap-bin");
        std::fs::write(&exe, b"first build").unwrap();
        let cache_dir = dir.path().join("packages");
        let cache = PackageCache::for_executable(&exe, cache_dir.clone()).unwrap();
        assert!(cache.load("f", Architecture::X86_64).is_none());
        let packaged = package("f", b"first build").unwrap();
        cache.store(&packaged.zip, Architecture::X86_64);
        let hit = PackageCache::for_executable(&exe, cache_dir.clone())
            .unwrap()
            .load("f", Architecture::X86_64)
            .unwrap();
        assert_eq!(hit.code_sha256, packaged.code_sha256);
        // Checked for x86_64 only: an arm64 function must not get it.
        assert!(cache.load("f", Architecture::Arm64).is_none());
        // A rebuild changes size/mtime: a different key, so a miss.
        std::fs::write(&exe, b"second build, longer").unwrap();
        let after = PackageCache::for_executable(&exe, cache_dir).unwrap();
        assert!(after.load("f", Architecture::X86_64).is_none());
    }

    fn fake_elf(machine: u16, tail: &[u8]) -> Vec<u8> {
        let mut b = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
        b.resize(18, 0);
        b.extend_from_slice(&machine.to_le_bytes());
        b.extend_from_slice(&[0; 44]);
        b.extend_from_slice(tail);
        b
    }

    #[test]
    fn package_is_deterministic_with_one_executable_bootstrap_entry() {
        let binary = fake_elf(62, b"some code\0GLIBC_2.2.5\0");
        let a = package("validate", &binary).unwrap();
        let b = package("validate", &binary).unwrap();
        assert_eq!(a.zip, b.zip);
        assert_eq!(a.code_sha256, b.code_sha256);

        let mut archive = ZipArchive::new(Cursor::new(&a.zip)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name(), "bootstrap");
        assert_eq!(entry.unix_mode(), Some(0o100755));
        assert_eq!(entry.compression(), CompressionMethod::Deflated);
        let t = entry.last_modified().unwrap();
        assert_eq!(
            (t.year(), t.month(), t.day(), t.hour(), t.minute()),
            (1980, 1, 1, 0, 0)
        );
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert_eq!(content, binary);

        let other = package("validate", &fake_elf(62, b"other code")).unwrap();
        assert_ne!(other.code_sha256, a.code_sha256);
    }

    #[test]
    fn code_sha256_is_base64_of_the_zip_digest() {
        // SHA-256("abc"), base64: the well-known test vector.
        assert_eq!(
            code_sha256(b"abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        let a = package("f", b"\x7fELF").unwrap();
        assert_eq!(a.code_sha256.len(), 44);
        let digest = base64::engine::general_purpose::STANDARD
            .decode(&a.code_sha256)
            .unwrap();
        assert_eq!(digest.as_slice(), Sha256::digest(&a.zip).as_slice());
    }

    #[test]
    fn glibc_check_accepts_up_to_2_34_and_names_the_newer_version() {
        assert!(check_glibc(b"no version needs at all").is_ok());
        assert!(check_glibc(b"\0GLIBC_2.2.5\0GLIBC_2.17\0GLIBC_2.34\0GLIBC_PRIVATE\0").is_ok());
        let err = check_glibc(b"\0GLIBC_2.2.5\0GLIBC_2.39\0GLIBC_2.35\0").unwrap_err();
        assert!(err.contains("GLIBC_2.39"), "{err}");
        assert!(err.contains("2.34"), "{err}");
        // 2.4 is older than 2.34: versions compare numerically, not as text.
        assert!(check_glibc(b"GLIBC_2.4\0GLIBC_2.3.4\0").is_ok());
        // A version string at the very end of the buffer.
        assert!(check_glibc(b"GLIBC_2.35")
            .unwrap_err()
            .contains("GLIBC_2.35"));
        assert!(check_glibc(b"GLIBC_2.").is_ok());
        let relr = check_glibc(b"GLIBC_2.17\0GLIBC_ABI_DT_RELR\0").unwrap_err();
        assert!(relr.contains("GLIBC_ABI_DT_RELR"), "{relr}");
    }

    #[test]
    fn bootstrap_check_wants_a_linux_elf_for_the_right_machine() {
        assert!(check_bootstrap(&fake_elf(62, b"GLIBC_2.34"), Architecture::X86_64).is_ok());
        assert!(check_bootstrap(&fake_elf(183, b""), Architecture::Arm64).is_ok());
        let wrong = check_bootstrap(&fake_elf(62, b""), Architecture::Arm64).unwrap_err();
        assert!(wrong.contains("built for x86_64"), "{wrong}");
        let macho = check_bootstrap(b"\xcf\xfa\xed\xfe rest of a mach-o", Architecture::X86_64)
            .unwrap_err();
        assert!(macho.contains("not an ELF"), "{macho}");
        let glibc =
            check_bootstrap(&fake_elf(62, b"GLIBC_2.38"), Architecture::X86_64).unwrap_err();
        assert!(glibc.contains("GLIBC_2.38"), "{glibc}");
    }

    /// An ELF64 with a `.dynstr` and a `.gnu.version_r` needing `versions` from libc.so.6,
    /// plus `decoy` bytes elsewhere (as a string in data or debug info would be).
    fn elf_with_version_needs(versions: &[&str], decoy: &[u8]) -> Vec<u8> {
        let mut dynstr = b"\0libc.so.6\0".to_vec();
        let mut name_offsets = Vec::new();
        for v in versions {
            name_offsets.push(dynstr.len() as u32);
            dynstr.extend_from_slice(v.as_bytes());
            dynstr.push(0);
        }
        let mut verneed = Vec::new();
        verneed.extend_from_slice(&1u16.to_le_bytes()); // vn_version
        verneed.extend_from_slice(&(versions.len() as u16).to_le_bytes()); // vn_cnt
        verneed.extend_from_slice(&1u32.to_le_bytes()); // vn_file: "libc.so.6"
        verneed.extend_from_slice(&16u32.to_le_bytes()); // vn_aux
        verneed.extend_from_slice(&0u32.to_le_bytes()); // vn_next
        for (i, name) in name_offsets.iter().enumerate() {
            let next: u32 = if i + 1 < versions.len() { 16 } else { 0 };
            verneed.extend_from_slice(&0u32.to_le_bytes()); // vna_hash
            verneed.extend_from_slice(&0u16.to_le_bytes()); // vna_flags
            verneed.extend_from_slice(&(i as u16 + 2).to_le_bytes()); // vna_other
            verneed.extend_from_slice(&name.to_le_bytes()); // vna_name
            verneed.extend_from_slice(&next.to_le_bytes()); // vna_next
        }
        let mut elf = fake_elf(62, &[]);
        elf.resize(64, 0);
        elf.extend_from_slice(decoy);
        let dynstr_off = elf.len();
        elf.extend_from_slice(&dynstr);
        let verneed_off = elf.len();
        elf.extend_from_slice(&verneed);
        let shoff = elf.len();
        let section = |ty: u32, off: usize, size: usize, link: u32, info: u32| {
            let mut sh = vec![0u8; 64];
            sh[4..8].copy_from_slice(&ty.to_le_bytes());
            sh[24..32].copy_from_slice(&(off as u64).to_le_bytes());
            sh[32..40].copy_from_slice(&(size as u64).to_le_bytes());
            sh[40..44].copy_from_slice(&link.to_le_bytes());
            sh[44..48].copy_from_slice(&info.to_le_bytes());
            sh
        };
        elf.extend(section(0, 0, 0, 0, 0));
        elf.extend(section(3, dynstr_off, dynstr.len(), 0, 0));
        elf.extend(section(0x6fff_fffe, verneed_off, verneed.len(), 1, 1));
        elf[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        elf
    }

    #[test]
    fn glibc_check_reads_the_version_needs_and_ignores_other_strings() {
        let ok = elf_with_version_needs(
            &["GLIBC_2.2.5", "GLIBC_2.34"],
            b"GLIBC_2.39 in a doc string\0",
        );
        assert_eq!(
            elf_version_needs(&ok),
            Some(vec!["GLIBC_2.2.5".to_string(), "GLIBC_2.34".to_string()])
        );
        assert_eq!(check_glibc(&ok), Ok(()));

        let new = elf_with_version_needs(&["GLIBC_2.17", "GLIBC_2.38", "GLIBC_2.28"], b"");
        let err = check_glibc(&new).unwrap_err();
        assert!(err.contains("needs GLIBC_2.38"), "{err}");

        let relr = elf_with_version_needs(&["GLIBC_2.17", "GLIBC_ABI_DT_RELR"], b"");
        assert!(check_glibc(&relr)
            .unwrap_err()
            .contains("GLIBC_ABI_DT_RELR"));

        // Section headers pointing outside the file: fall back to the byte scan.
        let mut broken = ok.clone();
        broken[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(elf_version_needs(&broken), None);
        assert!(check_glibc(&broken).unwrap_err().contains("GLIBC_2.39"));
    }

    /// A real binary built by cargo: the test executable itself. It runs here, so what it
    /// needs from glibc is at most what this host has.
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_check_on_a_real_binary_reads_its_actual_version_needs() {
        let exe = std::env::current_exe().unwrap();
        let bytes = std::fs::read(&exe).unwrap();
        let needs = elf_version_needs(&bytes).expect("section headers of the test executable");
        assert!(
            needs
                .iter()
                .any(|n| n == "GLIBC_2.2.5" || n == "GLIBC_2.17"),
            "expected the baseline glibc version among {needs:?}"
        );
        let host = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) }
            .to_str()
            .unwrap()
            .to_string();
        let host = parse_glibc_version(&format!("GLIBC_{host}")).unwrap();
        let newest = newest_glibc(&bytes).unwrap();
        assert!(
            newest <= host,
            "needs {newest:?} but runs on glibc {host:?}"
        );
        assert_eq!(
            check_glibc(&bytes).is_ok(),
            (newest.0, newest.1) <= RUNTIME_GLIBC
        );
    }

    #[test]
    fn package_names_from_every_package_id_form() {
        assert_eq!(
            package_name("path+file:///w/functions/validate-order#0.1.0").as_deref(),
            Some("validate-order")
        );
        assert_eq!(
            package_name("path+file:///w/functions/dir#process-order@0.1.0").as_deref(),
            Some("process-order")
        );
        assert_eq!(
            package_name("registry+https://github.com/rust-lang/crates.io-index#serde@1.0.0")
                .as_deref(),
            Some("serde")
        );
        assert_eq!(
            package_name("validate-order 0.1.0 (path+file:///w/functions/validate-order)")
                .as_deref(),
            Some("validate-order")
        );
    }

    #[test]
    fn parses_binary_artifacts_and_ignores_the_rest() {
        let bin = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/functions/validate-order#0.1.0","target":{"kind":["bin"],"name":"validate-order"},"executable":"/w/target/lambda/validate-order"}"#;
        assert_eq!(
            parse_artifact(bin),
            Some((
                "validate-order".into(),
                "validate-order".into(),
                PathBuf::from("/w/target/lambda/validate-order")
            ))
        );
        let lib = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/functions/order-domain#0.1.0","target":{"kind":["lib"],"name":"order_domain"},"executable":null}"#;
        assert_eq!(parse_artifact(lib), None);
        assert_eq!(
            parse_artifact(r#"{"reason":"build-finished","success":true}"#),
            None
        );
        assert_eq!(parse_artifact("not json"), None);
    }

    #[test]
    fn prebuilt_lookup_tries_three_layouts_and_lists_them_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_prebuilt(dir.path(), "validate-order")
            .unwrap_err()
            .to_string();
        for tried in [
            "validate-order,",
            "validate-order/bootstrap",
            "validate-order.zip",
        ] {
            assert!(err.contains(tried), "{err}");
        }

        std::fs::write(dir.path().join("validate-order.zip"), b"zip").unwrap();
        assert!(matches!(
            find_prebuilt(dir.path(), "validate-order"),
            Ok(Binary::Zip(_))
        ));
        std::fs::create_dir(dir.path().join("validate-order")).unwrap();
        std::fs::write(dir.path().join("validate-order/bootstrap"), b"x").unwrap();
        assert!(matches!(
            find_prebuilt(dir.path(), "validate-order"),
            Ok(Binary::Executable(p)) if p.ends_with("validate-order/bootstrap")
        ));
        std::fs::write(dir.path().join("process-order"), b"x").unwrap();
        assert!(matches!(
            find_prebuilt(dir.path(), "process-order"),
            Ok(Binary::Executable(p)) if p.ends_with("process-order")
        ));
    }

    #[test]
    fn a_prebuilt_zip_is_used_as_is_after_checking_its_bootstrap() {
        let good = package("x", &fake_elf(62, b"GLIBC_2.28")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.zip");
        std::fs::write(&path, &good.zip).unwrap();
        let a = Binary::Zip(path.clone())
            .package("x", Architecture::X86_64)
            .unwrap();
        assert_eq!(a.zip, good.zip);
        assert_eq!(a.code_sha256, good.code_sha256);

        let err = Binary::Zip(path)
            .package("x", Architecture::Arm64)
            .unwrap_err();
        assert!(err.to_string().contains("built for x86_64"), "{err}");

        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("handler", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"x").unwrap();
        let no_bootstrap = w.finish().unwrap().into_inner();
        assert!(read_bootstrap(&no_bootstrap)
            .unwrap_err()
            .contains("no top-level `bootstrap`"));

        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file(
            "bootstrap",
            SimpleFileOptions::default().unix_permissions(0o644),
        )
        .unwrap();
        w.write_all(b"x").unwrap();
        let not_exec = w.finish().unwrap().into_inner();
        assert!(read_bootstrap(&not_exec)
            .unwrap_err()
            .contains("not executable"));
    }

    fn pipeline(edits: &[(&str, &str)]) -> Spec {
        let mut yaml = include_str!("../pipeline.yaml").to_string();
        for (from, to) in edits {
            assert!(yaml.contains(from), "{from}");
            yaml = yaml.replacen(from, to, 1);
        }
        crate::spec::parse("pipeline.yaml", &yaml).unwrap()
    }

    #[test]
    fn prebuilt_functions_are_packaged_per_function_and_shared_per_crate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("validate-order"),
            fake_elf(62, b"GLIBC_2.17 v"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("process-order"),
            fake_elf(62, b"GLIBC_2.17 p"),
        )
        .unwrap();

        let spec = pipeline(&[]);
        // The pipeline's other functions, each a binary of its own.
        for f in spec.functions.values() {
            let path = dir.path().join(&f.crate_name);
            if !path.exists() {
                let marker = format!("GLIBC_2.17 {}", f.crate_name);
                std::fs::write(path, fake_elf(62, marker.as_bytes())).unwrap();
            }
        }
        let artifacts =
            build_functions(&spec, Path::new("/nonexistent"), Some(dir.path())).unwrap();
        let mut names: Vec<_> = artifacts.keys().cloned().collect();
        names.sort();
        let declared: Vec<_> = spec.functions.keys().cloned().collect();
        assert_eq!(names, declared);
        assert!(names.contains(&"validate-order".to_string()));
        assert_eq!(artifacts["validate-order"].function, "validate-order");
        assert_ne!(
            artifacts["validate-order"].code_sha256,
            artifacts["process-order"].code_sha256
        );
        assert_eq!(
            artifacts["process-order"].code_sha256,
            package("x", &fake_elf(62, b"GLIBC_2.17 p"))
                .unwrap()
                .code_sha256
        );

        let shared = pipeline(&[("crate: process-order", "crate: validate-order")]);
        let artifacts =
            build_functions(&shared, Path::new("/nonexistent"), Some(dir.path())).unwrap();
        assert_eq!(artifacts["process-order"].function, "process-order");
        assert_eq!(
            artifacts["process-order"].zip,
            artifacts["validate-order"].zip
        );

        let arm = pipeline(&[("architecture: x86_64", "architecture: arm64")]);
        let err = build_functions(&arm, Path::new("/nonexistent"), Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("built for x86_64"), "{err}");

        std::fs::write(
            dir.path().join("process-order"),
            fake_elf(62, b"GLIBC_2.36"),
        )
        .unwrap();
        let err = build_functions(&spec, Path::new("/nonexistent"), Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("needs GLIBC_2.36"), "{err}");
    }

    #[test]
    #[cfg(not(target_arch = "aarch64"))]
    fn building_arm64_functions_here_asks_for_prebuilt_binaries() {
        let arm = pipeline(&[("architecture: x86_64", "architecture: arm64")]);
        let err = build_functions(&arm, Path::new("/nonexistent"), None).unwrap_err();
        assert!(matches!(err, Error::Build { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("cross-compiling") && msg.contains("--prebuilt"),
            "{msg}"
        );
    }

    /// The real `cargo build --profile lambda` path, on a throwaway workspace with its own
    /// target directory (the shared one is locked by the `cargo test` running this).
    #[test]
    fn cargo_build_finds_each_crates_executable_and_reports_failures() {
        let ws = tempfile::tempdir().unwrap();
        let root = ws.path();
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"functions/*\"]\nresolver = \"2\"\n\
             [profile.lambda]\ninherits = \"release\"\nopt-level = 0\n",
        );
        let package = |name: &str| {
            format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")
        };
        write("functions/hello/Cargo.toml", &package("hello"));
        write(
            "functions/hello/src/main.rs",
            "fn main() { println!(\"hello\"); }\n",
        );
        write("functions/only-lib/Cargo.toml", &package("only-lib"));
        write("functions/only-lib/src/lib.rs", "pub fn f() {}\n");
        write("functions/broken/Cargo.toml", &package("broken"));
        write(
            "functions/broken/src/main.rs",
            "fn main() { this does not compile }\n",
        );
        let target = root.join("target");

        let built = cargo_build(root, &["hello"], Some(&target)).unwrap();
        let exe = &built["hello"];
        assert!(exe.starts_with(target.join("lambda")), "{}", exe.display());
        let bytes = std::fs::read(exe).unwrap();
        assert_eq!(&bytes[..4], b"\x7fELF");
        let output = std::process::Command::new(exe).output().unwrap();
        assert_eq!(output.stdout, b"hello\n");

        let err = cargo_build(root, &["only-lib"], Some(&target)).unwrap_err();
        assert!(err.to_string().contains("no executable"), "{err}");

        let err = cargo_build(root, &["broken", "hello"], Some(&target)).unwrap_err();
        assert!(matches!(err, Error::Build { .. }), "{err:?}");
        assert!(err.to_string().contains("failed"), "{err}");

        let err = cargo_build(&root.join("functions"), &["hello"], Some(&target)).unwrap_err();
        assert!(
            err.to_string().contains("Cargo.toml does not exist"),
            "{err}"
        );
    }
}
