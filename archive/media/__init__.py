"""Media: download tasks for every attachment, chunked downloads through the SDK worker,
md5 verification and the content-addressed blob store."""
