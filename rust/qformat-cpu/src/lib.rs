//! qformat-cpu: the processor's own conversion instructions, run over
//! slices of bit patterns, so that qformat's hardware profiles
//! (`x86-f16c`, `x86-sse`, `x86-avx512bf16`, `x86-avx512fp16`) can be
//! compared with the silicon bit for bit (`qformat verify --against cpu`).
//!
//! Why inline `asm!` and not the `std::arch` intrinsics: LLVM assumes the
//! default floating-point environment, so an intrinsic conversion may be
//! constant-folded or moved across the `ldmxcsr` that sets the rounding
//! mode, FTZ and DAZ. Each conversion here is its own non-`pure` `asm!`
//! block, which the compiler keeps in program order relative to the
//! `ldmxcsr`/`stmxcsr` blocks around the loop; the loop runs on the thread
//! that set MXCSR (no rayon inside an MXCSR region) and MXCSR is restored
//! before returning.
//!
//! Every instruction checks its CPUID feature at run time; a missing one is
//! [`CpuError::NotAvailable`], never a silent pass. `QFORMAT_CPU_DISABLE`
//! (a comma-separated list such as `f16c,avx512bf16`, or `all`) forces
//! features off so tests can exercise that path on any machine.

use std::fmt;

/// A CPU feature an instruction needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    Sse2,
    F16c,
    Avx512Bf16,
    Avx512Fp16,
    /// AVX-NE-CONVERT (VEX bf16/fp16 conversions; Sierra Forest, Granite
    /// Rapids and later).
    AvxNeConvert,
    /// AVX10 version 2 or later (the FP8 conversions).
    Avx10_2,
}

impl Feature {
    /// Every feature, in the order reports list them.
    pub const ALL: [Feature; 6] = [
        Feature::Sse2,
        Feature::F16c,
        Feature::Avx512Bf16,
        Feature::Avx512Fp16,
        Feature::AvxNeConvert,
        Feature::Avx10_2,
    ];
}

impl Feature {
    /// The name used in `QFORMAT_CPU_DISABLE` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Sse2 => "sse2",
            Feature::F16c => "f16c",
            Feature::Avx512Bf16 => "avx512bf16",
            Feature::Avx512Fp16 => "avx512fp16",
            Feature::AvxNeConvert => "avxneconvert",
            Feature::Avx10_2 => "avx10.2",
        }
    }

    /// True when the processor (and OS) support the feature and it is not
    /// disabled by `QFORMAT_CPU_DISABLE`.
    pub fn available(self) -> bool {
        if disabled(self.name()) {
            return false;
        }
        detected(self)
    }
}

/// `QFORMAT_CPU_DISABLE` names `feature` (or `all`). Read on every call so
/// a test can change it at run time.
fn disabled(feature: &str) -> bool {
    std::env::var("QFORMAT_CPU_DISABLE")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .any(|f| f.eq_ignore_ascii_case(feature) || f.eq_ignore_ascii_case("all"))
        })
        .unwrap_or(false)
}

#[cfg(target_arch = "x86_64")]
fn detected(f: Feature) -> bool {
    use std::arch::x86_64::__cpuid_count;
    // AVX-512 instructions need the OS to save the ZMM state too;
    // `is_x86_feature_detected!("avx512f")` checks XCR0 for that.
    let avx512 = || is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl");
    match f {
        Feature::Sse2 => is_x86_feature_detected!("sse2"),
        Feature::F16c => is_x86_feature_detected!("f16c") && is_x86_feature_detected!("avx"),
        Feature::Avx512Bf16 => {
            // CPUID exists on every x86_64 processor; leaf 7
            // subleaf 1 reads as zeros where it is not implemented.
            let leaf = __cpuid_count(7, 1);
            avx512() && leaf.eax & (1 << 5) != 0
        }
        Feature::Avx512Fp16 => {
            // Leaf 7 subleaf 0, EDX bit 23 is AVX512_FP16.
            let leaf = __cpuid_count(7, 0);
            avx512() && leaf.edx & (1 << 23) != 0
        }
        Feature::AvxNeConvert => {
            // Leaf 7 subleaf 1, EDX bit 5 (VEX-encoded: the YMM state the
            // "avx" check covers is enough).
            is_x86_feature_detected!("avx") && __cpuid_count(7, 1).edx & (1 << 5) != 0
        }
        Feature::Avx10_2 => {
            // Leaf 7 subleaf 1, EDX bit 19 says leaf 0x24 exists; its EBX
            // bits 7:0 are the AVX10 version. EVEX needs the opmask and ZMM
            // state, which the avx512f check reads from XCR0.
            let avx10 = __cpuid_count(7, 1).edx & (1 << 19) != 0;
            avx10 && is_x86_feature_detected!("avx512f") && __cpuid_count(0x24, 0).ebx & 0xff >= 2
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detected(_: Feature) -> bool {
    false
}

/// Why an instruction did not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CpuError {
    /// The processor lacks the feature (or it is disabled by
    /// `QFORMAT_CPU_DISABLE`).
    NotAvailable {
        instruction: &'static str,
        feature: &'static str,
    },
    Invalid(String),
}

impl fmt::Display for CpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuError::NotAvailable {
                instruction,
                feature,
            } => write!(
                f,
                "{instruction} is not available on this processor (needs {feature}; \
                 QFORMAT_CPU_DISABLE may have turned it off)"
            ),
            CpuError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CpuError {}

/// The MXCSR state a conversion runs under. Exception flags start clear and
/// every exception stays masked (the state C programs run with).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Mxcsr {
    /// MXCSR.RC: 0 nearest even, 1 down (toward −∞), 2 up (toward +∞),
    /// 3 toward zero.
    pub rounding: u8,
    /// MXCSR.FTZ (bit 15): tiny results become ±0.
    pub ftz: bool,
    /// MXCSR.DAZ (bit 6): subnormal inputs read as ±0.
    pub daz: bool,
}

impl Mxcsr {
    /// The register value: all exceptions masked (0x1f80), RC, FTZ, DAZ.
    pub fn bits(self) -> u32 {
        0x1f80
            | (u32::from(self.rounding & 3) << 13)
            | (u32::from(self.ftz) << 15)
            | (u32::from(self.daz) << 6)
    }
}

/// The instructions this crate runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// F16C float32 → float16; the immediate's bits 0–1 choose the rounding
    /// (0 nearest, 1 down, 2 up, 3 toward zero) unless bit 2 says "use
    /// MXCSR.RC".
    Vcvtps2ph { imm: u8 },
    /// SSE2 float64 → float32.
    Cvtsd2ss,
    /// SSE2 float32 → float64.
    Cvtss2sd,
    /// SSE float32 → int32, MXCSR rounding.
    Cvtss2si,
    /// SSE float32 → int32, truncating.
    Cvttss2si,
    /// SSE2 float64 → int32, MXCSR rounding.
    Cvtsd2si,
    /// SSE2 float64 → int32, truncating.
    Cvttsd2si,
    /// AVX512_BF16 float32 → bfloat16.
    Vcvtneps2bf16,
    /// AVX512_FP16 float32 → float16 (MXCSR rounding).
    Vcvtps2phx,
    /// AVX512_FP16 float64 → float16 directly (MXCSR rounding).
    Vcvtsd2sh,
    /// SSE float32 → int64 (REX.W), MXCSR rounding.
    Cvtss2si64,
    /// SSE float32 → int64, truncating.
    Cvttss2si64,
    /// SSE2 float64 → int64, MXCSR rounding.
    Cvtsd2si64,
    /// SSE2 float64 → int64, truncating.
    Cvttsd2si64,
    /// F16C float16 → float32 (exact).
    Vcvtph2ps,
    /// AVX512_FP16 float16 → float32 (exact).
    Vcvtph2psx,
    /// AVX512_FP16 scalar float16 → float32 (exact).
    Vcvtsh2ss,
    /// AVX512_FP16 float16 → int32, MXCSR rounding.
    Vcvtsh2si,
    /// AVX512_FP16 float16 → int32, truncating.
    Vcvttsh2si,
    /// AVX-NE-CONVERT float32 → bfloat16 (the VEX form).
    Vcvtneps2bf16Vex,
    /// AVX-NE-CONVERT float16 (a 2-byte load) → float32, broadcast.
    Vbcstnesh2ps,
    /// AVX-NE-CONVERT bfloat16 (a 2-byte load) → float32, broadcast.
    Vbcstnebf162ps,
    /// AVX10.2 float16 → BF8 (E5M2), nearest even; `saturate` is the S form.
    Vcvtph2bf8 { saturate: bool },
    /// AVX10.2 float16 → HF8 (E4M3), nearest even; `saturate` is the S form.
    Vcvtph2hf8 { saturate: bool },
    /// AVX10.2 HF8 (E4M3) → float16 (exact).
    Vcvthf82ph,
}

impl Instruction {
    /// Every instruction (F16C with each immediate 0–4).
    pub fn all() -> Vec<Instruction> {
        let mut v: Vec<_> = (0..5).map(|imm| Instruction::Vcvtps2ph { imm }).collect();
        v.extend([
            Instruction::Cvtsd2ss,
            Instruction::Cvtss2sd,
            Instruction::Cvtss2si,
            Instruction::Cvttss2si,
            Instruction::Cvtsd2si,
            Instruction::Cvttsd2si,
            Instruction::Vcvtneps2bf16,
            Instruction::Vcvtps2phx,
            Instruction::Vcvtsd2sh,
            Instruction::Cvtss2si64,
            Instruction::Cvttss2si64,
            Instruction::Cvtsd2si64,
            Instruction::Cvttsd2si64,
            Instruction::Vcvtph2ps,
            Instruction::Vcvtph2psx,
            Instruction::Vcvtsh2ss,
            Instruction::Vcvtsh2si,
            Instruction::Vcvttsh2si,
            Instruction::Vcvtneps2bf16Vex,
            Instruction::Vbcstnesh2ps,
            Instruction::Vbcstnebf162ps,
            Instruction::Vcvtph2bf8 { saturate: false },
            Instruction::Vcvtph2bf8 { saturate: true },
            Instruction::Vcvtph2hf8 { saturate: false },
            Instruction::Vcvtph2hf8 { saturate: true },
            Instruction::Vcvthf82ph,
        ]);
        v
    }

    /// Parse the lower-case mnemonic (`"vcvtps2ph"` takes `imm`; the
    /// 64-bit integer forms are `cvtss2si64` and so on).
    pub fn parse(name: &str, imm: u8) -> Result<Self, CpuError> {
        let lower = name.to_ascii_lowercase();
        if lower == "vcvtps2ph" {
            return if imm <= 4 {
                Ok(Instruction::Vcvtps2ph { imm })
            } else {
                Err(CpuError::Invalid(format!(
                    "vcvtps2ph immediate {imm}: use 0 (nearest), 1 (down), 2 (up), 3 (toward \
                     zero) or 4 (MXCSR.RC)"
                )))
            };
        }
        Instruction::all()
            .into_iter()
            .find(|i| !matches!(i, Instruction::Vcvtps2ph { .. }) && i.name() == lower)
            .ok_or_else(|| {
                let mut names: Vec<_> = Instruction::all().iter().map(|i| i.name()).collect();
                names.dedup();
                CpuError::Invalid(format!(
                    "unknown instruction {name:?}; choose one of {}",
                    names.join(", ")
                ))
            })
    }

    /// The mnemonic.
    pub fn name(self) -> &'static str {
        match self {
            Instruction::Vcvtps2ph { .. } => "vcvtps2ph",
            Instruction::Cvtsd2ss => "cvtsd2ss",
            Instruction::Cvtss2sd => "cvtss2sd",
            Instruction::Cvtss2si => "cvtss2si",
            Instruction::Cvttss2si => "cvttss2si",
            Instruction::Cvtsd2si => "cvtsd2si",
            Instruction::Cvttsd2si => "cvttsd2si",
            Instruction::Vcvtneps2bf16 => "vcvtneps2bf16",
            Instruction::Vcvtps2phx => "vcvtps2phx",
            Instruction::Vcvtsd2sh => "vcvtsd2sh",
            Instruction::Cvtss2si64 => "cvtss2si64",
            Instruction::Cvttss2si64 => "cvttss2si64",
            Instruction::Cvtsd2si64 => "cvtsd2si64",
            Instruction::Cvttsd2si64 => "cvttsd2si64",
            Instruction::Vcvtph2ps => "vcvtph2ps",
            Instruction::Vcvtph2psx => "vcvtph2psx",
            Instruction::Vcvtsh2ss => "vcvtsh2ss",
            Instruction::Vcvtsh2si => "vcvtsh2si",
            Instruction::Vcvttsh2si => "vcvttsh2si",
            Instruction::Vcvtneps2bf16Vex => "vcvtneps2bf16-vex",
            Instruction::Vbcstnesh2ps => "vbcstnesh2ps",
            Instruction::Vbcstnebf162ps => "vbcstnebf162ps",
            Instruction::Vcvtph2bf8 { saturate: false } => "vcvtph2bf8",
            Instruction::Vcvtph2bf8 { saturate: true } => "vcvtph2bf8s",
            Instruction::Vcvtph2hf8 { saturate: false } => "vcvtph2hf8",
            Instruction::Vcvtph2hf8 { saturate: true } => "vcvtph2hf8s",
            Instruction::Vcvthf82ph => "vcvthf82ph",
        }
    }

    /// The feature it needs.
    pub fn feature(self) -> Feature {
        match self {
            Instruction::Vcvtps2ph { .. } | Instruction::Vcvtph2ps => Feature::F16c,
            Instruction::Vcvtneps2bf16 => Feature::Avx512Bf16,
            Instruction::Vcvtps2phx
            | Instruction::Vcvtsd2sh
            | Instruction::Vcvtph2psx
            | Instruction::Vcvtsh2ss
            | Instruction::Vcvtsh2si
            | Instruction::Vcvttsh2si => Feature::Avx512Fp16,
            Instruction::Vcvtneps2bf16Vex
            | Instruction::Vbcstnesh2ps
            | Instruction::Vbcstnebf162ps => Feature::AvxNeConvert,
            Instruction::Vcvtph2bf8 { .. }
            | Instruction::Vcvtph2hf8 { .. }
            | Instruction::Vcvthf82ph => Feature::Avx10_2,
            _ => Feature::Sse2,
        }
    }

    /// Source and result widths in bits (integer results count as their
    /// width: int32 → 32, int64 → 64).
    pub fn widths(self) -> (u32, u32) {
        use Instruction as I;
        match self {
            I::Vcvtps2ph { .. } | I::Vcvtps2phx | I::Vcvtneps2bf16 | I::Vcvtneps2bf16Vex => {
                (32, 16)
            }
            I::Cvtsd2ss | I::Cvtsd2si | I::Cvttsd2si => (64, 32),
            I::Cvtss2sd | I::Cvtss2si64 | I::Cvttss2si64 => (32, 64),
            I::Cvtss2si | I::Cvttss2si => (32, 32),
            I::Cvtsd2si64 | I::Cvttsd2si64 => (64, 64),
            I::Vcvtsd2sh => (64, 16),
            I::Vcvtph2ps
            | I::Vcvtph2psx
            | I::Vcvtsh2ss
            | I::Vcvtsh2si
            | I::Vcvttsh2si
            | I::Vbcstnesh2ps
            | I::Vbcstnebf162ps => (16, 32),
            I::Vcvtph2bf8 { .. } | I::Vcvtph2hf8 { .. } => (16, 8),
            I::Vcvthf82ph => (8, 16),
        }
    }

    /// Ok when the processor can run it.
    pub fn check(self) -> Result<(), CpuError> {
        let f = self.feature();
        if f.available() {
            Ok(())
        } else {
            Err(CpuError::NotAvailable {
                instruction: self.name(),
                feature: f.name(),
            })
        }
    }
}

/// Input words of an instruction's source width.
pub enum Src<'a> {
    W8(&'a [u8]),
    W16(&'a [u16]),
    W32(&'a [u32]),
    W64(&'a [u64]),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::W8(s) => s.len(),
            Src::W16(s) => s.len(),
            Src::W32(s) => s.len(),
            Src::W64(s) => s.len(),
        }
    }

    fn width(&self) -> u32 {
        match self {
            Src::W8(_) => 8,
            Src::W16(_) => 16,
            Src::W32(_) => 32,
            Src::W64(_) => 64,
        }
    }
}

/// Output words of an instruction's result width (int32 results as u32).
pub enum Dst<'a> {
    W8(&'a mut [u8]),
    W16(&'a mut [u16]),
    W32(&'a mut [u32]),
    W64(&'a mut [u64]),
}

impl Dst<'_> {
    fn len(&self) -> usize {
        match self {
            Dst::W8(d) => d.len(),
            Dst::W16(d) => d.len(),
            Dst::W32(d) => d.len(),
            Dst::W64(d) => d.len(),
        }
    }

    fn width(&self) -> u32 {
        match self {
            Dst::W8(_) => 8,
            Dst::W16(_) => 16,
            Dst::W32(_) => 32,
            Dst::W64(_) => 64,
        }
    }
}

/// Run `f` with this thread's floating-point environment at the IEEE
/// defaults (MXCSR 0x1f80: round to nearest even, FTZ and DAZ clear, all
/// exceptions masked) and restore the caller's environment afterwards.
///
/// Why: the core's kernels use float arithmetic (the float64 front end,
/// scale quotients, the add-and-truncate subnormal trick) whose results the
/// IEEE defaults define. A process that set FTZ/DAZ (`-ffast-math` start-up
/// code, `torch.set_flush_denormal(True)`) or another rounding mode would
/// otherwise get different bits from the same call. The caller's `ftz=` /
/// `daz=` options are data to the engine and do not depend on this.
pub fn with_ieee_fp_env<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(target_arch = "x86_64")]
    {
        let _guard = x86::CsrGuard::set(Mxcsr {
            rounding: 0,
            ftz: false,
            daz: false,
        });
        f()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        f()
    }
}

/// Put this thread's floating-point environment at the IEEE defaults for
/// good (for worker threads, which inherit the environment of the thread
/// that created them).
pub fn set_ieee_fp_env() {
    #[cfg(target_arch = "x86_64")]
    std::mem::forget(x86::CsrGuard::set(Mxcsr {
        rounding: 0,
        ftz: false,
        daz: false,
    }));
}

/// Run `instr` over `src` into `dst` under `csr`, restoring MXCSR after.
pub fn convert(instr: Instruction, csr: Mxcsr, src: Src<'_>, dst: Dst<'_>) -> Result<(), CpuError> {
    instr.check()?;
    if src.len() != dst.len() {
        return Err(CpuError::Invalid("input and output lengths differ".into()));
    }
    let widths = instr.widths();
    let got = (src.width(), dst.width());
    if got != widths {
        return Err(CpuError::Invalid(format!(
            "{} converts {}-bit words into {}-bit words; got {} and {}",
            instr.name(),
            widths.0,
            widths.1,
            got.0,
            got.1
        )));
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `check` proved the feature is present (and enabled by
        // the OS), and the widths match the instruction.
        unsafe { x86::run(instr, csr, src, dst) };
        Ok(())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (csr, src, dst);
        unreachable!("check() fails off x86_64")
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Dst, Instruction, Mxcsr, Src};
    use std::arch::asm;

    /// Saves MXCSR, loads the wanted state, and restores it on drop (also
    /// on unwinding, though nothing inside the loops can panic).
    pub(super) struct CsrGuard(u32);

    impl CsrGuard {
        pub(super) fn set(csr: Mxcsr) -> Self {
            let mut old: u32 = 0;
            let new = csr.bits();
            // SAFETY: stmxcsr/ldmxcsr read/write a 4-byte location we own;
            // `new` only has defined MXCSR bits set (all exceptions masked),
            // so ldmxcsr cannot fault.
            unsafe {
                asm!("stmxcsr [{p}]", p = in(reg) &mut old, options(nostack, preserves_flags));
                asm!("ldmxcsr [{p}]", p = in(reg) &new, options(nostack, preserves_flags));
            }
            CsrGuard(old)
        }
    }

    impl Drop for CsrGuard {
        fn drop(&mut self) {
            // SAFETY: restores the value stmxcsr read, a valid MXCSR.
            unsafe {
                asm!("ldmxcsr [{p}]", p = in(reg) &self.0, options(nostack, preserves_flags))
            };
        }
    }

    /// One element, 32-bit source word → result in a 32-bit register.
    macro_rules! op32 {
        ($x:expr, $($ins:literal),+) => {{
            let r: u32;
            // SAFETY (of every use): the caller checked the instruction's
            // feature; only xmm0 and the named registers are touched. Not
            // `pure`: the conversion reads MXCSR, so it must stay after
            // the ldmxcsr in program order.
            asm!("movd xmm0, {x:e}", $($ins,)+ x = in(reg) $x, r = lateout(reg) r,
                 out("xmm0") _, options(nostack, preserves_flags));
            r
        }};
    }

    macro_rules! op64 {
        ($x:expr, $($ins:literal),+) => {{
            let r: u64;
            asm!("movq xmm0, {x}", $($ins,)+ x = in(reg) $x, r = lateout(reg) r,
                 out("xmm0") _, options(nostack, preserves_flags));
            r
        }};
    }

    /// Eight float32 → eight 16-bit results per instruction (the packed
    /// YMM form of the same conversion); the tail goes element by element.
    /// Returns how many elements it converted.
    macro_rules! packed8 {
        ($s:expr, $d:expr, $ins:literal) => {{
            let n8 = $s.len() / 8 * 8;
            for (i, o) in $s[..n8].chunks_exact(8).zip($d[..n8].chunks_exact_mut(8)) {
                asm!("vmovdqu ymm0, [{p}]", $ins, "vmovdqu [{q}], xmm0",
                     p = in(reg) i.as_ptr(), q = in(reg) o.as_mut_ptr(), out("ymm0") _,
                     options(nostack, preserves_flags));
            }
            asm!("vzeroupper", options(nostack, preserves_flags));
            n8
        }};
    }

    /// One element, 16-bit source word (zero-extended) → 32-bit register.
    macro_rules! op16 {
        ($x:expr, $($ins:literal),+) => {{
            let r: u32;
            asm!("vmovd xmm0, {x:e}", $($ins,)+ x = in(reg) u32::from($x),
                 r = lateout(reg) r, out("xmm0") _, out("xmm1") _,
                 options(nostack, preserves_flags));
            r
        }};
    }

    /// One element read by a 2-byte memory operand → 32-bit register.
    macro_rules! load16 {
        ($x:expr, $ins:literal) => {{
            let r: u32;
            let word: u16 = $x;
            asm!($ins, "vmovd {r:e}, xmm0", p = in(reg) &word, r = lateout(reg) r,
                 out("xmm0") _, options(nostack, preserves_flags, readonly));
            r
        }};
    }

    macro_rules! each {
        ($s:expr, $d:expr, $ty:ty, |$x:ident| $body:expr) => {
            for (o, &$x) in $d.iter_mut().zip($s.iter()) {
                *o = $body as $ty;
            }
        };
    }

    /// # Safety
    /// The instruction's feature must be present; `src`/`dst` must have the
    /// instruction's widths (checked by `convert`).
    pub(super) unsafe fn run(instr: Instruction, csr: Mxcsr, src: Src<'_>, dst: Dst<'_>) {
        let _guard = CsrGuard::set(csr);
        use Instruction as I;
        match (instr, src, dst) {
            (I::Vcvtps2ph { imm }, Src::W32(s), Dst::W16(d)) => {
                let n = match imm {
                    0 => packed8!(s, d, "vcvtps2ph xmm0, ymm0, 0"),
                    1 => packed8!(s, d, "vcvtps2ph xmm0, ymm0, 1"),
                    2 => packed8!(s, d, "vcvtps2ph xmm0, ymm0, 2"),
                    3 => packed8!(s, d, "vcvtps2ph xmm0, ymm0, 3"),
                    _ => packed8!(s, d, "vcvtps2ph xmm0, ymm0, 4"),
                };
                vcvtps2ph_each(imm, &s[n..], &mut d[n..]);
            }
            (I::Vcvtneps2bf16, Src::W32(s), Dst::W16(d)) => {
                // {evex}: the AVX512_BF16 form, not AVX-NE-CONVERT's VEX one.
                let n = packed8!(s, d, "{{evex}} vcvtneps2bf16 xmm0, ymm0");
                each!(&s[n..], &mut d[n..], u16, |x| op32!(
                    x,
                    "{{evex}} vcvtneps2bf16 xmm0, xmm0",
                    "vmovd {r:e}, xmm0"
                ))
            }
            (I::Vcvtps2phx, Src::W32(s), Dst::W16(d)) => {
                let n = packed8!(s, d, "vcvtps2phx xmm0, ymm0");
                each!(&s[n..], &mut d[n..], u16, |x| op32!(
                    x,
                    "vcvtps2phx xmm0, xmm0",
                    "vmovd {r:e}, xmm0"
                ))
            }
            (I::Cvtsd2ss, Src::W64(s), Dst::W32(d)) => {
                each!(
                    s,
                    d,
                    u32,
                    |x| op64!(x, "cvtsd2ss xmm0, xmm0", "movd {r:e}, xmm0") as u32
                )
            }
            (I::Cvtss2sd, Src::W32(s), Dst::W64(d)) => {
                each!(s, d, u64, |x| {
                    let r: u64;
                    asm!("movd xmm0, {x:e}", "cvtss2sd xmm0, xmm0", "movq {r}, xmm0",
                         x = in(reg) x, r = lateout(reg) r, out("xmm0") _,
                         options(nostack, preserves_flags));
                    r
                })
            }
            (I::Cvtss2si, Src::W32(s), Dst::W32(d)) => {
                each!(s, d, u32, |x| op32!(x, "cvtss2si {r:e}, xmm0"))
            }
            (I::Cvttss2si, Src::W32(s), Dst::W32(d)) => {
                each!(s, d, u32, |x| op32!(x, "cvttss2si {r:e}, xmm0"))
            }
            (I::Cvtsd2si, Src::W64(s), Dst::W32(d)) => {
                each!(s, d, u32, |x| {
                    let r: u32;
                    asm!("movq xmm0, {x}", "cvtsd2si {r:e}, xmm0", x = in(reg) x,
                         r = lateout(reg) r, out("xmm0") _, options(nostack, preserves_flags));
                    r
                })
            }
            (I::Cvttsd2si, Src::W64(s), Dst::W32(d)) => {
                each!(s, d, u32, |x| {
                    let r: u32;
                    asm!("movq xmm0, {x}", "cvttsd2si {r:e}, xmm0", x = in(reg) x,
                         r = lateout(reg) r, out("xmm0") _, options(nostack, preserves_flags));
                    r
                })
            }
            (I::Vcvtsd2sh, Src::W64(s), Dst::W16(d)) => {
                each!(s, d, u16, |x| {
                    let r: u32;
                    asm!("vmovq xmm0, {x}", "vxorps xmm1, xmm1, xmm1",
                         "vcvtsd2sh xmm0, xmm1, xmm0", "vmovd {r:e}, xmm0",
                         x = in(reg) x, r = lateout(reg) r, out("xmm0") _, out("xmm1") _,
                         options(nostack, preserves_flags));
                    r
                })
            }
            (I::Cvtss2si64, Src::W32(s), Dst::W64(d)) => {
                each!(s, d, u64, |x| op32to64(x, false))
            }
            (I::Cvttss2si64, Src::W32(s), Dst::W64(d)) => {
                each!(s, d, u64, |x| op32to64(x, true))
            }
            (I::Cvtsd2si64, Src::W64(s), Dst::W64(d)) => {
                each!(s, d, u64, |x| op64!(x, "cvtsd2si {r}, xmm0"))
            }
            (I::Cvttsd2si64, Src::W64(s), Dst::W64(d)) => {
                each!(s, d, u64, |x| op64!(x, "cvttsd2si {r}, xmm0"))
            }
            (I::Vcvtph2ps, Src::W16(s), Dst::W32(d)) => {
                each!(s, d, u32, |x| op16!(
                    x,
                    "vcvtph2ps xmm0, xmm0",
                    "vmovd {r:e}, xmm0"
                ))
            }
            (I::Vcvtph2psx, Src::W16(s), Dst::W32(d)) => {
                each!(s, d, u32, |x| op16!(
                    x,
                    "vcvtph2psx xmm0, xmm0",
                    "vmovd {r:e}, xmm0"
                ))
            }
            (I::Vcvtsh2ss, Src::W16(s), Dst::W32(d)) => {
                each!(s, d, u32, |x| op16!(
                    x,
                    "vxorps xmm1, xmm1, xmm1",
                    "vcvtsh2ss xmm0, xmm1, xmm0",
                    "vmovd {r:e}, xmm0"
                ))
            }
            (I::Vcvtsh2si, Src::W16(s), Dst::W32(d)) => {
                each!(s, d, u32, |x| op16!(x, "vcvtsh2si {r:e}, xmm0"))
            }
            (I::Vcvttsh2si, Src::W16(s), Dst::W32(d)) => {
                each!(s, d, u32, |x| op16!(x, "vcvttsh2si {r:e}, xmm0"))
            }
            (I::Vcvtneps2bf16Vex, Src::W32(s), Dst::W16(d)) => {
                each!(s, d, u16, |x| op32!(
                    x,
                    "{{vex}} vcvtneps2bf16 xmm0, xmm0",
                    "vmovd {r:e}, xmm0"
                ))
            }
            (I::Vbcstnesh2ps, Src::W16(s), Dst::W32(d)) => {
                each!(s, d, u32, |x| load16!(
                    x,
                    "vbcstnesh2ps xmm0, word ptr [{p}]"
                ))
            }
            (I::Vbcstnebf162ps, Src::W16(s), Dst::W32(d)) => {
                each!(s, d, u32, |x| load16!(
                    x,
                    "vbcstnebf162ps xmm0, word ptr [{p}]"
                ))
            }
            (I::Vcvtph2bf8 { saturate }, Src::W16(s), Dst::W8(d)) => {
                if saturate {
                    each!(s, d, u8, |x| op16!(
                        x,
                        "vcvtph2bf8s xmm0, xmm0",
                        "vmovd {r:e}, xmm0"
                    ))
                } else {
                    each!(s, d, u8, |x| op16!(
                        x,
                        "vcvtph2bf8 xmm0, xmm0",
                        "vmovd {r:e}, xmm0"
                    ))
                }
            }
            (I::Vcvtph2hf8 { saturate }, Src::W16(s), Dst::W8(d)) => {
                if saturate {
                    each!(s, d, u8, |x| op16!(
                        x,
                        "vcvtph2hf8s xmm0, xmm0",
                        "vmovd {r:e}, xmm0"
                    ))
                } else {
                    each!(s, d, u8, |x| op16!(
                        x,
                        "vcvtph2hf8 xmm0, xmm0",
                        "vmovd {r:e}, xmm0"
                    ))
                }
            }
            (I::Vcvthf82ph, Src::W8(s), Dst::W16(d)) => {
                each!(s, d, u16, |x| op16!(
                    u16::from(x),
                    "vcvthf82ph xmm0, xmm0",
                    "vmovd {r:e}, xmm0"
                ))
            }
            _ => unreachable!("widths are checked by convert()"),
        }
    }

    /// VCVTPS2PH element by element (the immediate is part of the opcode).
    unsafe fn vcvtps2ph_each(imm: u8, s: &[u32], d: &mut [u16]) {
        match imm {
            0 => each!(s, d, u16, |x| op32!(
                x,
                "vcvtps2ph xmm0, xmm0, 0",
                "vmovd {r:e}, xmm0"
            )),
            1 => each!(s, d, u16, |x| op32!(
                x,
                "vcvtps2ph xmm0, xmm0, 1",
                "vmovd {r:e}, xmm0"
            )),
            2 => each!(s, d, u16, |x| op32!(
                x,
                "vcvtps2ph xmm0, xmm0, 2",
                "vmovd {r:e}, xmm0"
            )),
            3 => each!(s, d, u16, |x| op32!(
                x,
                "vcvtps2ph xmm0, xmm0, 3",
                "vmovd {r:e}, xmm0"
            )),
            _ => each!(s, d, u16, |x| op32!(
                x,
                "vcvtps2ph xmm0, xmm0, 4",
                "vmovd {r:e}, xmm0"
            )),
        }
    }

    /// CVT(T)SS2SI with a 64-bit destination (REX.W).
    unsafe fn op32to64(x: u32, truncate: bool) -> u64 {
        let r: u64;
        if truncate {
            asm!("movd xmm0, {x:e}", "cvttss2si {r}, xmm0", x = in(reg) x, r = lateout(reg) r,
                 out("xmm0") _, options(nostack, preserves_flags));
        } else {
            asm!("movd xmm0, {x:e}", "cvtss2si {r}, xmm0", x = in(reg) x, r = lateout(reg) r,
                 out("xmm0") _, options(nostack, preserves_flags));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run16(instr: Instruction, csr: Mxcsr, x: &[u32]) -> Option<Vec<u16>> {
        let mut out = vec![0u16; x.len()];
        match convert(instr, csr, Src::W32(x), Dst::W16(&mut out)) {
            Ok(()) => Some(out),
            Err(CpuError::NotAvailable { .. }) => None,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn f16c_rounds_per_immediate() {
        // 1 + 2^-11 + 2^-12 lies between two halves (0x3c00, 0x3c01), above the tie.
        let x = [f32::to_bits(1.0 + 2f32.powi(-11) + 2f32.powi(-12))];
        let Some(near) = run16(Instruction::Vcvtps2ph { imm: 0 }, Mxcsr::default(), &x) else {
            return;
        };
        assert_eq!(near, [0x3c01]);
        let trunc = run16(Instruction::Vcvtps2ph { imm: 3 }, Mxcsr::default(), &x).unwrap();
        assert_eq!(trunc, [0x3c00]);
        // imm 4 reads MXCSR.RC: toward zero here.
        let csr = Mxcsr {
            rounding: 3,
            ..Default::default()
        };
        let mx = run16(Instruction::Vcvtps2ph { imm: 4 }, csr, &x).unwrap();
        assert_eq!(mx, [0x3c00]);
    }

    #[test]
    fn mxcsr_is_restored() {
        let before = read_csr();
        let x = [1u64 << 52];
        let mut out = [0u32];
        let csr = Mxcsr {
            rounding: 2,
            ftz: true,
            daz: true,
        };
        convert(Instruction::Cvtsd2ss, csr, Src::W64(&x), Dst::W32(&mut out)).unwrap();
        assert_eq!(read_csr() & !0x3f, before & !0x3f);
    }

    #[test]
    fn daz_reads_subnormal_inputs_as_zero() {
        // The smallest float64 subnormal rounded up gives the smallest
        // float32 subnormal; with DAZ the input is +0 first.
        let x = [1u64];
        let mut out = [0u32];
        let up = Mxcsr {
            rounding: 2,
            ..Default::default()
        };
        convert(Instruction::Cvtsd2ss, up, Src::W64(&x), Dst::W32(&mut out)).unwrap();
        assert_eq!(out, [1]);
        convert(
            Instruction::Cvtsd2ss,
            Mxcsr { daz: true, ..up },
            Src::W64(&x),
            Dst::W32(&mut out),
        )
        .unwrap();
        assert_eq!(out, [0]);
    }

    #[test]
    fn disable_env_forces_not_available() {
        // Only this test sets the variable in this process's test binary
        // for a feature no other test in this file depends on being on.
        std::env::set_var("QFORMAT_CPU_DISABLE", "avx512fp16");
        let r = Instruction::Vcvtps2phx.check();
        std::env::remove_var("QFORMAT_CPU_DISABLE");
        assert!(matches!(
            r,
            Err(CpuError::NotAvailable {
                feature: "avx512fp16",
                ..
            })
        ));
        assert!(r
            .unwrap_err()
            .to_string()
            .contains("not available on this processor"));
    }

    #[test]
    fn wrong_widths_are_an_error() {
        let mut out = [0u16];
        let r = convert(
            Instruction::Cvtsd2ss,
            Mxcsr::default(),
            Src::W32(&[0]),
            Dst::W16(&mut out),
        );
        assert!(matches!(r, Err(CpuError::Invalid(_))));
    }

    fn read_csr() -> u32 {
        let mut v: u32 = 0;
        // SAFETY: stmxcsr writes 4 bytes into `v`.
        unsafe { std::arch::asm!("stmxcsr [{p}]", p = in(reg) &mut v, options(nostack)) };
        v
    }
}

#[cfg(test)]
mod engine {
    //! The instructions against qformat-core's engine under the hardware
    //! profiles, on a strided sample of float32 patterns (the exhaustive
    //! sweeps are `qformat verify --against cpu --exhaustive`).
    use super::*;
    use qformat_core::fast::slices::encode_slice;
    use qformat_core::format::float_builtin;
    use qformat_core::policy::profile::Profile;
    use qformat_core::policy::resolve::{float_options, CallerOptions};

    fn sample() -> Vec<u32> {
        (0..1u64 << 16)
            .map(|i| (i * 65_537 + (i >> 3)) as u32)
            .collect()
    }

    fn engine16(profile: &str, dst: &str, caller: CallerOptions, x: &[u32]) -> Vec<u16> {
        let p = Profile::parse(profile, &[]).unwrap();
        let (s, d) = (float_builtin("fp32"), float_builtin(dst));
        let o = float_options(&p, &caller, &s, &d).unwrap();
        let mut out = vec![0u16; x.len()];
        encode_slice(&s, x, &d, &mut out, &o).unwrap();
        out
    }

    #[test]
    fn f16c_and_bf16_equal_the_engine() {
        let x = sample();
        let mut hw = vec![0u16; x.len()];
        let daz = Mxcsr {
            daz: true,
            ftz: true,
            ..Default::default()
        };
        if convert(
            Instruction::Vcvtps2ph { imm: 0 },
            daz,
            Src::W32(&x),
            Dst::W16(&mut hw),
        )
        .is_ok()
        {
            let caller = CallerOptions {
                daz: Some(true),
                ..Default::default()
            };
            assert_eq!(hw, engine16("x86-f16c", "fp16", caller, &x));
        }
        if convert(
            Instruction::Vcvtneps2bf16,
            Mxcsr::default(),
            Src::W32(&x),
            Dst::W16(&mut hw),
        )
        .is_ok()
        {
            let want = engine16("x86-avx512bf16", "bf16", CallerOptions::default(), &x);
            assert_eq!(hw, want);
            // the IEEE rules keep subnormal inputs: the profile is what matches
            assert_ne!(hw, engine16("ieee", "bf16", CallerOptions::default(), &x));
        }
    }
}
