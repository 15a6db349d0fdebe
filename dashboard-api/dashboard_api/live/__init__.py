"""The live view: latest values, series of the 24 h window and the event stream, all from Redis."""
