"""The Qt desktop app: thin widgets; the engine and other slow work run in QObject workers on threads."""
