fn main() {
    eprintln!("smolpptpd: not yet");
}
