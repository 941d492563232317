"""Getting chats in and keeping them: sources, keys, decryption, parsing, the puller, storage."""
