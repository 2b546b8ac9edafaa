//! Checks of the test client on its own, without the server.
mod support;
