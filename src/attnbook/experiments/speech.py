"""Attention over the frames of generated audio: find the sound, then name it."""

import numpy as np
import torch
from torch import nn

from .pooling import AttentionPooling
from .tasks import HeldOutSplitMixin

SOUND_CLASSES = ("rising chirp", "falling chirp", "steady tone", "two tones")


def spectrogram(audio, n_fft=256, hop=128):
    """Log-magnitude short-time Fourier transform, computed with NumPy.

    Parameters
    ----------
    audio : numpy.ndarray of shape (..., num_samples)
    n_fft : int
        Window length (a Hann window) and FFT size.
    hop : int
        Samples between the starts of two frames.

    Returns
    -------
    numpy.ndarray of shape (..., num_frames, n_fft // 2 + 1)
        ``log(1e-3 + |STFT|)``, one row per frame, float32.

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.experiments.speech import spectrogram
    >>> t = np.arange(8000) / 8000
    >>> spec = spectrogram(np.sin(2 * np.pi * 1000 * t))  # a 1 kHz tone at 8 kHz
    >>> spec.shape, int(spec[10].argmax())  # bin 32 of 129 is 32 * 8000 / 256 = 1000 Hz
    ((61, 129), 32)
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.shape[-1] < n_fft:
        raise ValueError(f"expected audio of shape (..., num_samples) with num_samples >= "
                         f"n_fft={n_fft}, got {audio.shape}")
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft, axis=-1)[..., ::hop, :]
    magnitude = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=-1))
    return np.log(1e-3 + magnitude).astype(np.float32)


class SoundDataset(HeldOutSplitMixin):
    """One second of noise with one short sound in it, and the sound's class.

    Each clip (8 kHz) is Gaussian noise with a sound of 0.15 to 0.3 s at a random
    time: a rising or falling chirp, a steady tone, or two simultaneous tones
    (:data:`SOUND_CLASSES`), at random frequencies between 300 and 3500 Hz. The
    sound lies wholly between the end of the spectrogram's second frame and the
    start of its second-to-last frame, so the first and last two frames of every
    clip hold noise only.

    Parameters
    ----------
    num_clips : int
    seed : int
    noise : float
        Standard deviation of the noise (the sound has amplitude 1).
    sample_rate : int
    n_fft, hop : int
        Window length and hop of the :func:`spectrogram`.

    Attributes
    ----------
    spectrograms : torch.Tensor of shape (num_clips, num_frames, num_bins)
    labels : torch.Tensor of shape (num_clips,)
    event_frames : torch.Tensor of shape (num_clips, num_frames)
        True for the frames that overlap the sound.
    frame_seconds : float
        Time between the starts of two frames (``hop / sample_rate``).
    bin_hz : float
        Width of one frequency bin (``sample_rate / n_fft``).

    Examples
    --------
    >>> from attnbook.experiments import SoundDataset
    >>> data = SoundDataset(num_clips=4, seed=0)
    >>> data.spectrograms.shape, data.labels.tolist()
    (torch.Size([4, 61, 129]), [3, 2, 3, 0])
    """

    def __init__(self, num_clips, seed=0, noise=0.5, sample_rate=8000, n_fft=256, hop=128):
        rng = np.random.default_rng(seed)
        t = np.arange(sample_rate) / sample_rate
        audio = noise * rng.standard_normal((num_clips, sample_rate))
        labels = rng.integers(len(SOUND_CLASSES), size=num_clips)
        num_frames = (sample_rate - n_fft) // hop + 1
        frame_start = np.arange(num_frames) * hop / sample_rate
        events = np.zeros((num_clips, num_frames), dtype=bool)
        # The sound starts after the second frame ends and ends before the
        # second-to-last frame starts: the first and last two frames never hold it.
        earliest = (hop + n_fft) / sample_rate
        latest = (num_frames - 2) * hop / sample_rate
        for i, label in enumerate(labels):
            duration = rng.uniform(0.15, 0.3)
            start = rng.uniform(earliest, latest - duration)
            inside = (t >= start) & (t < start + duration)
            local = t[inside] - start
            f0, f1 = np.sort(rng.uniform(300, 3500, size=2))
            if SOUND_CLASSES[label] == "falling chirp":
                f0, f1 = f1, f0
            if SOUND_CLASSES[label] in ("rising chirp", "falling chirp"):
                phase = 2 * np.pi * (f0 * local + (f1 - f0) * local**2 / (2 * duration))
                wave = np.sin(phase)
            elif SOUND_CLASSES[label] == "steady tone":
                wave = np.sin(2 * np.pi * f0 * local)
            else:
                wave = 0.5 * (np.sin(2 * np.pi * f0 * local) + np.sin(2 * np.pi * f1 * local))
            audio[i, inside] += wave * np.hanning(inside.sum())
            frame_end = frame_start + n_fft / sample_rate
            events[i] = (frame_end > start) & (frame_start < start + duration)
        self.sample_rate, self.hop = sample_rate, hop
        self.frame_seconds, self.bin_hz = hop / sample_rate, sample_rate / n_fft
        self.spectrograms = torch.from_numpy(spectrogram(audio, n_fft, hop))
        self.labels = torch.from_numpy(labels)
        self.event_frames = torch.from_numpy(events)
        self._tensors = (self.spectrograms, self.labels)


class SoundClassifier(nn.Module):
    """Local time-frequency features, attention pooling over frames, a linear classifier.

    After averaging groups of ``freq_pool`` neighbouring bins, a 5x5 convolution
    over (time, frequency) detects local patterns of the spectrogram (a rising or
    falling edge, a flat line); taking their maximum and mean over frequency makes
    each frame's features independent of the pitch.
    :class:`AttentionPooling` then decides which frames to listen to.

    Parameters
    ----------
    num_bins : int
        Frequency bins per frame.
    num_classes : int
    channels : int
        Number of convolution filters.
    freq_pool : int
        Neighbouring frequency bins averaged before the convolution.
    d_model : int
        Size of each frame's feature vector.
    pooling : str
        ``"attention"`` (:class:`AttentionPooling`), or ``"mean"`` for the
        baseline without attention: the plain average of the frames' feature
        vectors (uniform weights, no query, no key projection). For the same
        seed both start from the same convolution, frame layer and classifier.

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import SoundClassifier
    >>> logits, weights = SoundClassifier(129, 4)(torch.randn(2, 61, 129), need_weights=True)
    >>> logits.shape, weights.shape
    (torch.Size([2, 4]), torch.Size([2, 61]))
    >>> mean = SoundClassifier(129, 4, pooling="mean")  # the baseline without attention
    >>> mean(torch.randn(2, 61, 129), need_weights=True)[1][0, :3]
    tensor([0.0164, 0.0164, 0.0164])
    """

    def __init__(self, num_bins, num_classes, channels=8, d_model=32, freq_pool=4,
                 pooling="attention"):
        super().__init__()
        if pooling not in ("attention", "mean"):
            raise ValueError(f"pooling must be 'attention' or 'mean', got {pooling!r}")
        self.num_bins = num_bins
        self.freq_pool = nn.AvgPool2d((1, freq_pool), ceil_mode=True)
        self.conv = nn.Conv2d(1, channels, kernel_size=5, padding=2)
        self.frame_layer = nn.Linear(2 * channels, d_model)
        self.classify = nn.Linear(d_model, num_classes)
        self.pool = AttentionPooling(d_model, d_model) if pooling == "attention" else None

    def forward(self, spectrograms, need_weights=False):
        """Class logits ``(batch, num_classes)`` of ``(batch, num_frames, num_bins)`` inputs."""
        if spectrograms.dim() != 3 or spectrograms.shape[-1] != self.num_bins:
            raise ValueError(f"expected spectrograms of shape (batch, num_frames, "
                             f"num_bins={self.num_bins}), got {tuple(spectrograms.shape)}")
        x = spectrograms - spectrograms.mean(dim=(1, 2), keepdim=True)
        x = self.freq_pool(x.unsqueeze(1))  # (batch, 1, frames, bins / freq_pool)
        maps = torch.relu(self.conv(x))  # (batch, channels, frames, bins / freq_pool)
        features = torch.cat([maps.amax(dim=-1), maps.mean(dim=-1)], dim=1)  # (b, 2c, frames)
        frames = torch.relu(self.frame_layer(features.transpose(1, 2)))  # (b, frames, d)
        if self.pool is None:
            weights = torch.full(frames.shape[:2], 1 / frames.shape[1])  # (batch, frames)
            pooled = frames.mean(dim=1)
        else:
            pooled, weights = self.pool(frames)
        logits = self.classify(pooled)
        return (logits, weights) if need_weights else logits
