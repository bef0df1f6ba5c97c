"""`trials serve`: a local, read-only web page over the same library calls the CLI makes."""
