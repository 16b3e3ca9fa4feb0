"""Audio in and out without Qt: any file -> 16 kHz mono float32, the recorder, playback."""
