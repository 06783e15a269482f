"""OCR: PP-OCR engines behind one interface, page text in reading order."""
