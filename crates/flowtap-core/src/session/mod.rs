//! Application session parsers (HTTP/1.x, DNS, TLS) over reassembled
//! streams and datagrams.
