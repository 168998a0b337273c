// Voice-activity detection with continuous-speech duration measurement: the
// measurement behind automatic barge-in. Plain C++ (no Node headers); the same
// algorithm, step for step, is in src/native/vadFallback.ts (in double where this
// is float: parity-tested on decisions).
//
// Input: PCM16 mono frames of 10, 20 or 30 ms at 8, 16 or 48 kHz, read in place,
// plus an optional far-end reference (what the agent is playing, same rate and
// frame size) so that the agent's own voice leaking back is not taken for the user.
//
// Pipeline, per 10 ms hop at an internal 8 kHz rate (16 and 48 kHz are decimated
// with small FIR filters):
//   1. 100 Hz high-pass; 256-point real FFT (Hann; float, as a 128-point complex
//      one in 8-lane vectors) -> 16 Bark-like band energies.
//   2. Per-band noise floors by minimum statistics over ~1 s (adapts to stationary
//      noise and to level/AGC changes; everything after works on ratios to it).
//   3. Echo: far-end band energies over 0..320 ms of delay; a per-band regression
//      of near-end on far-end envelopes (updated inside far-end talk spurts, once
//      their echo has had time to arrive, while the near end is not talking)
//      picks the echo delay and gain; only near-end energy above the predicted
//      echo (with a margin) counts. The prediction takes the loudest far end
//      within +-40 ms of the estimated delay (the live reference's alignment moves
//      by a frame or two from one talk spurt to the next), in wall-clock time and
//      in talk-spurt time (an echo path that pauses with the far end, e.g. a
//      playout buffer, brings the end of a spurt back when the next one starts).
//      At 16/48 kHz input the 4-8 kHz energy (fricatives) has an echo gain of its
//      own, regressed on 90 ms means of both ends at that delay, and counts above
//      the echo it predicts (and then also in the foreground level of step 5).
//   4. Evidence per hop: band SNR (mean of per-band dB above the floor),
//      periodicity (normalized autocorrelation at 60-400 Hz of the LPC-whitened
//      signal below 1 kHz: noise is not periodic), spectral-shape change over
//      50 ms (speech keeps moving its formants; a level step does not), summed as
//      log-odds; then three gates: sustain (share of 2 ms blocks over the last
//      30 ms above the floor, below 1 kHz or broadband: clicks are shorter),
//      enough SNR, and no tone (two spectral peaks holding the energy and not
//      moving over 30 ms) or note (fine spectrum unchanged over 100 ms).
//   5. Background: the mean and spread of the broadband level over the floor on
//      quiet hops. Stationary noise sits a few dB over its floor; babble and music
//      sit well above it ("busy") and fluctuate. Over a busy background a hop is
//      foreground only when it stands out from it by 2.5 spreads (4..8 dB). The
//      hops of a segment, from its onset on, are learnt as segment hops (slowly):
//      at the start, those learnt fast as "quiet" before it was known are learnt
//      again when the background was quiet and learnt before the onset (else the
//      user's first syllable would make a quiet room "busy" for the rest of it).
//   6. A QUIET/SPEAKING state machine: speech starts after 2 foreground speech hops
//      (not tonal) with the onset backdated to the first 2 ms block of the run
//      above the floor. On a quiet stream a word's first hop may count on the
//      sustain since its onset (8 ms or more, rising, not a click's decay) instead
//      of the 30 ms window's share; it then needs the very next hop, not tonal. With no
//      far end, a narrow-band onset stage (vad_onset.h) starts a segment on its own, on
//      one or two bands' rise over their learnt level (a word's unvoiced first consonant
//      under the noise elsewhere); over a busy background on the 4-8 kHz band only. Dropouts
//      shorter than the hangover keep the duration
//      running; a longer silence ends it, and so do 300 ms without a foreground
//      hop (babble or music carrying on after the user). "Duration D reached"
//      fires once per segment when now - onset >= D, on a speech hop or a short
//      quiet dropout, in a segment that had at least 2 voiced foreground hops (6,
//      more periodic, and 5 of the last 20 hops foreground over a busy
//      background); D = 0 fires with the start.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vad_echo.h"
#include "vad_onset.h"
#include "vad_signal.h"

namespace voxbridge {
namespace vad {

// Stable status values shared with the TypeScript side (src/native/vadFallback.ts).
enum class Status : int32_t {
  Ok = 0,
  BadSampleRate = -1,   // not 8000, 16000 or 48000
  BadFrameMs = -2,      // not 10, 20 or 30
  BadInterruptMs = -3,  // outside [0, 10000]
  BadHangoverMs = -4,   // outside [50, 2000]
};

// Per-frame flags (returned by process and written to FrameOut::flags).
enum Flag : uint32_t {
  kSpeech = 1,        // the stream is in a speech segment at the end of this frame
  kSpeechStart = 2,   // a segment started in this frame (onsetSample is set)
  kSpeechEnd = 4,     // a segment ended in this frame (endSample is set)
  kDurationReached = 8,  // continuous speech reached the configured duration D
  kFarEndActive = 16, // the far-end reference carried audio in the echo window
};

struct Config {
  int sampleRate = 16000;
  int frameMs = 20;
  int interruptMs = 200;  // D; 0 fires at speech start
  int hangoverMs = 200;   // silence that ends a segment; shorter dropouts do not
};

// Numbers written per frame; indices match the Float64Array of the binding.
enum OutIndex : int {
  kOutFlags = 0,
  kOutScore = 1,       // speech evidence of the last hop, 0..1
  kOutSpeechMs = 2,    // continuous speech duration at the end of the frame (0 when quiet)
  kOutOnset = 3,       // first sample of the current/last segment (stream samples, -1 none)
  kOutEnd = 4,         // sample after the last speech of the last ended segment (-1 none)
  kOutReached = 5,     // sample at which duration D was reached in this segment (-1 none)
  kOutSnrDb = 6,       // mean band SNR of the last hop (after echo removal)
  kOutEchoDelayMs = 7, // estimated echo delay (-1 unknown)
  kOutLastMs = 8,      // duration of the last ended segment
  kOutCount = 9,
};

Status validate(const Config& c);

class Vad {
 public:
  explicit Vad(const Config& c);  // call validate() first; bad configs fall back to defaults
  void reset();
  // pcm: frameSamples() samples; farEnd: the same count or nullptr. out: kOutCount doubles.
  uint32_t process(const int16_t* pcm, const int16_t* farEnd, double* out);
  Status setInterruptMs(int ms);
  int frameSamples() const { return frameSamples_; }
  const Config& config() const { return cfg_; }

  // Diagnostics of the last hop (for tests and tuning).
  struct Features {
    double snrDb, sustain, harm, flux, score, stat, statShort, peak, fgDb, bgDb, fgThr;
    int echoDelay;
  };
  const Features& features() const { return feat_; }
  double echoGain() const { return echo_.meanGain(); }  // the echo model's mean gain over the bands

  static constexpr int kBands = EchoModel::kBands;
  static constexpr int kBlocks = 64;      // 2 ms energy blocks kept (sustain, onset refinement)
  static constexpr int kMinSub = 5;       // minimum-statistics sub-windows
  static constexpr int kMinSubLen = 20;   // hops per sub-window
  static constexpr int kFluxLag = 5;      // hops between compared spectral shapes
  static constexpr int kFluxKeep = 10;    // hops over which the largest shape change counts
  static constexpr int kStartHops = 2;    // speech hops that start a segment
  static constexpr int kReachVoiced = 2;  // voiced hops a segment needs before D > 0 is reached
  static constexpr double kVoicedHarm = 0.5;
  static constexpr double kVoicedScore = 0.25;  // speech evidence a voiced hop needs
  static constexpr int kCandGap = 8;      // non-speech hops that drop a candidate segment
  static constexpr int kDropoutHops = 10; // a quiet dropout this short can confirm D
  static constexpr int kRecent = 10;      // hops of recent decisions kept
  static constexpr int kRecentMin = 5;    // speech hops among them for a dropout to confirm D
  static constexpr int kStatLag = 10;     // hops between compared fine spectra (notes)
  static constexpr int kStatShort = 3;    // the same for tones

 private:
  uint32_t hop(float* near8, float* far8, bool farGiven);
  int64_t refineOnset(int64_t hopEnd) const;
  double scoreOf(double snrDb, double sustain, double harm, double flux, double peak, double statShort,
                 double statLong) const;
  double specCorr(int64_t h, int lag) const;
  double statLongAt(int64_t h);
  double peakShare(const float* pow) const;

  Config cfg_;
  int frameSamples_ = 0;
  int decim_ = 1;        // input samples per internal sample
  int groupDelay_ = 0;   // of the decimation filters, in input samples
  SignalPath sig_;
  Channel near_, far_;

  // noise floors (minimum statistics)
  double smooth_[kBands];
  double subMin_[kMinSub][kBands];
  double curMin_[kBands];
  int subPos_, subCount_;
  double floor_[kBands];
  int hopsSeen_;
  double hopSmooth_, hopCurMin_, hopMin_[kMinSub], hopFloor_;  // broadband hop energy
  double lpSmooth_, lpCurMin_, lpMin_[kMinSub], lpFloor_;  // same, below 1 kHz
  double closedMin_[kBands + 3];  // the minima of the closed sub-windows: bands, hop, below 1 kHz, 4-8 kHz
  void closedMins();
  double lpBlk_[15];  // 2 ms block energies below 1 kHz, last 30 ms
  int lpPos_;
  // 4-8 kHz (16 and 48 kHz input only): 2 ms block energies of the differentiated 16 kHz signal
  // (hfBlk_: after the predicted echo; farHfHop_: the far end's blocks)
  double hfHop_[5], hfBlk_[15], farHfHop_[5];
  int hfPos_;
  double hfSmooth_, hfCurMin_, hfMin_[kMinSub], hfFloor_;

  // spectral shape history (dB per band, mean removed) and shape change
  double shapeHist_[kFluxLag + 1][kBands + 1];  // + 4-8 kHz at 16/48 kHz input
  int shapePos_;
  double fluxHist_[kFluxKeep];
  int fluxPos_;

  // 2 ms block energies (16 samples at 8 kHz)
  double blk_[kBlocks];
  int blkPos_;

  EchoModel echo_;
  OnsetStage onset8_;  // the narrow-band onset stage (vad_onset.h)
  bool viaStage_;      // the segment was started by it
  int farQuiet_;       // hops since the far end last carried samples (saturates at OnsetStage::kFarQuiet)

  // background: mean and variance of the broadband level over the floor (dB) on quiet
  // hops; babble and music sit well above the stationary floor and fluctuate
  double bgDb_, bgVar_;
  static constexpr int kBgHist = 32;  // hops of background state kept (onset backdating + candidate gaps)
  int64_t bgHops_;                    // warm hops the background has learnt from
  double bgHistDb_[kBgHist], bgHistVar_[kBgHist], bgHistLvl_[kBgHist];  // per hop: state before, level
  bool bgHistSpeech_[kBgHist];
  int64_t bgHistHop_[kBgHist];
  void relearnSegmentStart();
  uint32_t start(bool viaStage);

  // decision state
  int speechRun_, quietRun_, candGap_, segVoiced_, fgQuiet_;
  bool speaking_, reachedFired_;
  bool candViaOnset_;  // the candidate's first hop was admitted by the onset rule alone
  bool prevVoicedFg_;  // the last hop was a voiced foreground hop
  bool segUnsettled_;  // the segment started in the stream's opening (kBgOpening)
  bool recent_[kRecent];
  int recentPos_, recentCount_;
  static constexpr int kFgRecent = 20;  // foreground hops of the last 200 ms
  bool fgRecent_[kFgRecent];
  int fgRecentPos_, fgRecentCount_;
  int segHops_, segSpeech_;  // hops and speech hops since the segment's first speech hop
  int64_t onset_, end_, reached_, candOnset_, lastSpeechEnd_, lastFgEnd_;  // lastFgEnd_: end of the last foreground hop
  double lastMs_;
  int64_t samples_;  // input samples consumed
  int64_t hop8_;     // hops processed
  Features feat_;

  // scratch
  static constexpr int kRing = kStatLag + 3;  // fine spectra of the last 13 hops
  alignas(16) float powRing_[kRing][kFft / 2 + 4];
  double statCache_[3];   // specCorr(h, kStatLag) of the last hops that needed it
  int64_t statStamp_[3];
  alignas(16) float n8_[kHop], f8_[kHop];
};

}  // namespace vad
}  // namespace voxbridge
