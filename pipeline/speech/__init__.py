"""Speech recognition of audio and video records (语音识别), where a model is configured.

``audio`` decodes with PyAV, ``detect`` finds speech without a model, ``engines`` wrap
openai-whisper and faster-whisper behind ``SpeechEngine``, ``recognise`` runs one recording,
``stage`` runs a batch's recordings against the store, ``writers`` write whisper's formats.
"""
