//! The host build `target/release/libttlock.so` may import only Lua C API symbols that
//! LogicMachine's LuaJIT 2.0.5 exports (cross/lm-abi/luajit-2.0.5-exports.txt), and never
//! `luaopen_debug`. LM's musl binds every symbol at `dlopen`, so one extra import makes
//! `require('ttlock')` fail on the controller. The libc imports of this glibc build are not
//! checked here; cross/check-abi.sh checks the musl builds completely.
//!
//! Env: `TTLOCK_ABI_SO` (another .so to check), `TTLOCK_LM_ABI_DIR` (the lists; default
//! `<repo>/cross/lm-abi`), `CARGO_TARGET_DIR`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One dynamic symbol: its name and whether it is undefined (imported).
struct DynSym {
    name: String,
    undefined: bool,
}

fn rd(b: &[u8], off: usize, len: usize) -> Result<u64, String> {
    let s = b
        .get(off..off + len)
        .ok_or_else(|| format!("ELF truncated at {off}"))?;
    Ok(s.iter()
        .rev()
        .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

/// The `.dynsym` entries of a little-endian ELF32 or ELF64 file (what musl and glibc bind).
fn dynamic_symbols(b: &[u8]) -> Result<Vec<DynSym>, String> {
    if !b.starts_with(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    if b.get(5) != Some(&1) {
        return Err("not a little-endian ELF file".into());
    }
    let is64 = match b.get(4) {
        Some(1) => false,
        Some(2) => true,
        c => return Err(format!("bad ELF class {c:?}")),
    };
    let w = if is64 { 8 } else { 4 };
    let (shoff, shentsize, shnum) = if is64 {
        (rd(b, 0x28, 8)?, rd(b, 0x3A, 2)?, rd(b, 0x3C, 2)?)
    } else {
        (rd(b, 0x20, 4)?, rd(b, 0x2E, 2)?, rd(b, 0x30, 2)?)
    };
    // Section header fields: sh_type at 4, then sh_offset / sh_size / sh_link after the
    // address-sized sh_flags and sh_addr.
    let sh = |i: u64| -> Result<(u64, u64, u64, u64), String> {
        let base = (shoff + i * shentsize) as usize;
        let typ = rd(b, base + 4, 4)?;
        let offset = rd(b, base + 8 + 2 * w, w)?;
        let size = rd(b, base + 8 + 3 * w, w)?;
        let link = rd(b, base + 8 + 4 * w, 4)?;
        Ok((typ, offset, size, link))
    };
    const SHT_DYNSYM: u64 = 11;
    let mut out = Vec::new();
    for i in 0..shnum {
        let (typ, off, size, link) = sh(i)?;
        if typ != SHT_DYNSYM {
            continue;
        }
        let (_, stroff, strsize, _) = sh(link)?;
        let strtab = b
            .get(stroff as usize..(stroff + strsize) as usize)
            .ok_or("string table out of bounds")?;
        let entsize = if is64 { 24 } else { 16 };
        for k in 0..(size / entsize) {
            let e = (off + k * entsize) as usize;
            let name_off = rd(b, e, 4)? as usize;
            let shndx = if is64 {
                rd(b, e + 6, 2)?
            } else {
                rd(b, e + 14, 2)?
            };
            let rest = strtab.get(name_off..).ok_or("symbol name out of bounds")?;
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            let name = String::from_utf8_lossy(&rest[..end]).into_owned();
            if !name.is_empty() {
                out.push(DynSym {
                    name,
                    undefined: shndx == 0,
                });
            }
        }
    }
    if out.is_empty() {
        return Err("no .dynsym section (not a shared object?)".into());
    }
    Ok(out)
}

/// Names in an lm-abi list: one per line, `#` comments, optional `@version` suffix.
fn read_list(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (TTLOCK_LM_ABI_DIR, if set, must name a folder like cross/lm-abi)",
            path.display()
        )
    });
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split('@').next().unwrap_or(l).to_string())
        .collect()
}

/// The problems with a module's `lua*` imports, given what LuaJIT exports.
fn lua_import_problems(imports: &BTreeSet<String>, luajit: &BTreeSet<String>) -> Vec<String> {
    let mut bad = Vec::new();
    let lua: Vec<&String> = imports.iter().filter(|n| n.starts_with("lua")).collect();
    if lua.is_empty() {
        bad.push("imports no lua* symbol at all (not a Lua module?)".to_string());
    }
    if imports.contains("luaopen_debug") {
        bad.push("imports luaopen_debug (LM's LuaJIT does not export it)".to_string());
    }
    for n in lua {
        if !luajit.contains(n) {
            bad.push(format!("imports {n}, which LuaJIT 2.0.5 does not export"));
        }
    }
    bad
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn module_path() -> PathBuf {
    if let Some(p) = std::env::var_os("TTLOCK_ABI_SO") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| repo().join(d))
        .unwrap_or_else(|| repo().join("target"));
    target.join("release").join("libttlock.so")
}

fn luajit_list() -> BTreeSet<String> {
    let dir = std::env::var_os("TTLOCK_LM_ABI_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("cross").join("lm-abi"));
    read_list(&dir.join("luajit-2.0.5-exports.txt"))
}

#[test]
fn release_module_imports_only_luajit_2_0_5_api() {
    let so = module_path();
    let bytes = std::fs::read(&so)
        .unwrap_or_else(|e| panic!("{}: {e}: run cargo build --release first", so.display()));
    let syms = dynamic_symbols(&bytes).unwrap_or_else(|e| panic!("{}: {e}", so.display()));
    let imports: BTreeSet<String> = syms
        .iter()
        .filter(|s| s.undefined)
        .map(|s| s.name.clone())
        .collect();
    let luajit = luajit_list();
    assert!(
        luajit.len() > 100 && luajit.contains("lua_pcall"),
        "the LuaJIT export list looks wrong ({} names)",
        luajit.len()
    );
    let problems = lua_import_problems(&imports, &luajit);
    assert!(
        problems.is_empty(),
        "{}:\n  {}",
        so.display(),
        problems.join("\n  ")
    );
    assert!(
        syms.iter()
            .any(|s| !s.undefined && s.name == "luaopen_ttlock"),
        "{} does not export luaopen_ttlock",
        so.display()
    );
}

#[test]
fn import_check_reports_what_luajit_lacks() {
    let luajit: BTreeSet<String> = ["lua_pushnumber", "lua_settop"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert!(lua_import_problems(&set(&["lua_settop", "malloc"]), &luajit).is_empty());
    let p = lua_import_problems(
        &set(&["lua_settop", "lua_tointegerx", "luaopen_debug"]),
        &luajit,
    );
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(p.iter().any(|m| m.contains("lua_tointegerx")));
    assert!(p.iter().any(|m| m.contains("luaopen_debug (LM")));
    assert!(!lua_import_problems(&set(&["malloc"]), &luajit).is_empty());
}

#[test]
fn elf_reader_rejects_non_elf() {
    assert!(dynamic_symbols(b"not an elf file at all").is_err());
    assert!(dynamic_symbols(b"\x7fELF").is_err());
    assert!(dynamic_symbols(b"\x7fELF\x02\x01\x01").is_err());
}
