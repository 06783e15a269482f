"""Speech engines behind one interface: openai-whisper (default) and faster-whisper (optional)."""

from pipeline.speech.engines.base import (RawSegment, SpeechEngine, available_engines, create_engine, engine_class,
                                          register, shared_engine)

__all__ = ["RawSegment", "SpeechEngine", "available_engines", "create_engine", "engine_class", "register",
           "shared_engine"]
