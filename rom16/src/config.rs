//! The boot configuration `romtool config` writes into the image (target
//! URI, our address). The block is linked with its empty default and found
//! by romtool through its magic.

use romfmt::config::{AlignedConfigBlock, ConfigRepr};

#[used]
#[link_section = ".rodata.srpboot_config"]
static SRPBOOT_CONFIG: AlignedConfigBlock = AlignedConfigBlock::EMPTY;

/// What the image says.
pub enum Config {
    /// `romtool config` was never run on this image.
    Unconfigured,
    /// The block fails its checks (corrupt image).
    Corrupt,
    /// Ready to use.
    Configured(ConfigRepr<'static>),
}

/// Reads the block from the RAM copy.
pub fn read() -> Config {
    // romtool rewrites these bytes after linking: read them through
    // black_box so the compiler cannot fold in the empty initializer.
    let block: &'static AlignedConfigBlock = core::hint::black_box(&SRPBOOT_CONFIG);
    match ConfigRepr::parse(&block.0) {
        Ok(Some(c)) => Config::Configured(c),
        Ok(None) => Config::Unconfigured,
        Err(_) => Config::Corrupt,
    }
}
