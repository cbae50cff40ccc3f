//! The `rampart` command.

fn main() {
    println!("rampart {}", env!("CARGO_PKG_VERSION"));
}
