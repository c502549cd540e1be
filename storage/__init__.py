"""Content-addressed storage of ciphertexts (IPFS Kubo RPC, embedded on-disk, in-memory)."""
