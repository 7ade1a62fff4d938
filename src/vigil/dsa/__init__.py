"""EU Digital Services Act statements of reasons (Art. 17) and their transparency export."""
