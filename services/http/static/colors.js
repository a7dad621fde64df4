/* One colour per emotion label, the same on every page and in every call, so a colour keeps its meaning.
 * The labels are the canonical ones of shared/corpora/labels.py (VALENCE_AROUSAL); a model with other
 * labels gets the fallback colours in label order. The legend always names the colour in text. */
"use strict";

const EMOTION_COLORS = Object.freeze({
  angry: "#c62828",
  frustration: "#ad1457",
  disgust: "#2e7d32",
  contempt: "#5d4037",
  fear: "#6a1b9a",
  sad: "#1565c0",
  guilt: "#455a64",
  boredom: "#78909c",
  neutral: "#8d8d8d",
  calm: "#00838f",
  interest: "#558b2f",
  happy: "#f9a825",
  excited: "#ff6f00",
  surprise: "#ef6c00",
  positive: "#f9a825",
  negative: "#c62828",
});
const FALLBACK_COLORS = ["#3949ab", "#00897b", "#c0ca33", "#8e24aa", "#6d4c41", "#546e7a", "#d81b60", "#43a047"];

/** label -> colour for a model's label set (fallbacks are assigned in label order, stable per call). */
function emotionPalette(labels) {
  const palette = {};
  let spare = 0;
  for (const label of labels) {
    palette[label] = EMOTION_COLORS[label] || FALLBACK_COLORS[spare++ % FALLBACK_COLORS.length];
  }
  return palette;
}
