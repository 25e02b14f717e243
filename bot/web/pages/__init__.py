"""The pages Settle serves to a person's browser, in one frame (frame.py) and the reader's language."""
