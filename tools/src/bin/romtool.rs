//! `romtool`: build, inspect, verify and configure legacy option ROMs.
//! See `tools::romtool` for the commands.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(tools::romtool::main(&args));
}
