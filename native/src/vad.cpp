// Voice-activity detector; see vad.h for the pipeline. Every step is mirrored in
// src/native/vadFallback.ts: change both together. The signal path here is float
// with 4- to 16-lane vectors (GCC/Clang vector extensions), the TS side is double:
// the parity test compares decisions frame by frame, and scores to within 1e-3.
// Work skipped here that cannot change a decision: the vetoes/periodicity on hops
// that the SNR and sustain gates already zero, and a far end of digital silence.
// The signal path (filters, FFT, periodicity) is in vad_signal.cpp, the echo model
// in vad_echo.cpp.
#include "vad.h"

#include <cmath>
#include <cstring>

#include "vad_simd.h"

namespace voxbridge {
namespace vad {

using namespace simd;

namespace {

constexpr double kMinFloorPerBin = 1e-8;  // about int16 quantization noise per bin
constexpr double kFloorBias = 2.0;        // minimum statistics underestimate the mean
constexpr double kSnrGate = 1.5;          // dB of mean band SNR below which nothing is speech
constexpr double kSustainGate = 0.45;     // share of sustained 2 ms blocks below which nothing is
constexpr int kSustainBlocks = 15;        // 30 ms of 2 ms blocks
constexpr double kPeakRel = 0.01;  // -20 dB: sustained blocks are this close to the peak
constexpr double kHfWeight = 3.0;         // 4-8 kHz spans about 3 more critical bands
// background (babble, music) vs foreground (the user)
constexpr double kBgFast = 1.0 / 50;      // background learning per quiet hop (0.5 s)
constexpr double kBgSlow = 1.0 / 1000;    // ... per hop of a segment that stands out (10 s)
constexpr double kFgLearn = 6.0;          // dB: non-speech hops of a segment this close are learnt fast
constexpr double kBgFree = 4.5;           // dB over the floor that stationary noise stays under
constexpr double kBgRamp = 2.0;           // dB above that to a fully "busy" background
constexpr double kFgK = 2.5;              // a foreground hop stands out by this many spreads...
constexpr double kFgMin = 4.0;            // ... and by at least this many dB (at most kFgMax)
constexpr double kFgMax = 8.0;
constexpr int kFgDrop = 30;               // hops without foreground that end a segment
constexpr int kBusyVoiced = 4;            // more voiced hops for D over a busy background
constexpr double kBusyHarm = 0.1;         // ... with this much more periodicity
constexpr double kBusyRecent = 5;         // ... and this many foreground hops in the last 200 ms
// A segment's own hops, from its onset to its start, are learnt as segment hops (not at
// the fast rate of quiet hops) when the background was quiet and learnt before the onset:
// otherwise the user's first syllable makes a quiet room look busy to the rest of the
// segment (see relearnSegmentStart).
constexpr int kBgSettled = 100;           // warm hops learnt before the onset
// A segment that starts in the stream's first half second may be the background itself
// (a stream that opens in a crowd): its unvoiced hops are learnt at the quiet rate, so
// babble becomes background within ~0.5 s and ends the segment; a voice's vowels still
// learn slowly.
constexpr int kBgOpening = 50;            // warm hops learnt: the stream's opening
constexpr double kStartPeak = 0.95;       // two spectral peaks holding this share: a tone, no start
constexpr int kFarSkip = 4;               // silent far-end hops after which it is skipped
// A word's onset: before it, the 30 ms sustain window is mostly silence, so the hop
// that holds its first 8-20 ms fails the sustain gate and the start waits a hop (a
// 20 ms frame, as decisions land on frame ends). On a quiet stream the sustain then
// counts over the span since the first sustained block (at least kOnsetSpan blocks),
// when the newest 6 ms are within 6 dB of the loudest block (a click decays from its
// first block, a word's onset rises), or when that block was reached by a climb: the
// two blocks before it (before the oldest block within 1.5 dB of it) rise to it, the
// older 6 dB under it and well above the floor. A click's attack falls within one block,
// so the older of those two is the floor; a vowel's first pitch pulses take 4 ms and
// more to build, and the newest 6 ms of a low voice can sit in the trough between two
// pulses, 10-20 dB under them (bench:bargein's D = 0 tail: "excuse me" a frame late at
// 3 phases in 16). Such a hop starts a segment only together with the next hop, which
// must not look like a tone's second hop (a tone's first hop, its window half empty,
// has no tonal spectrum yet): two spectral peaks holding 85 % of its energy, and not
// periodic. (At 80 %, a "w" at 82-84 % waited a hop at 8 phases in 80; at 85 %, tones
// 5 dB under brown noise start 3 % more often at D = 0, none more at D = 200.)
constexpr int kOnsetSpan = 4;             // 2 ms blocks (8 ms)
constexpr double kOnsetRise = 0.25;       // -6 dB
constexpr double kOnsetClimbFloor = 4;    // the climb's first block: x the sustain floor (+6 dB)...
constexpr double kOnsetClimbRise = 4;     // ... and x this under the loudest block (-6 dB)
constexpr double kOnsetClimbTop = 1.4;    // blocks within 1.5 dB of the loudest are the peak
constexpr double kOnsetPeak = 0.85;       // second hop (and the onset stage's start): two peaks hold less than this share...
constexpr double kOnsetHarm = 0.5;        // ... or it is periodic (a "w", a nasal)

inline double clamp01(double x) { return x < 0 ? 0 : (x > 1 ? 1 : x); }
inline double clampTo(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

}  // namespace

Status validate(const Config& c) {
  if (c.sampleRate != 8000 && c.sampleRate != 16000 && c.sampleRate != 48000) return Status::BadSampleRate;
  if (c.frameMs != 10 && c.frameMs != 20 && c.frameMs != 30) return Status::BadFrameMs;
  if (c.interruptMs < 0 || c.interruptMs > 10000) return Status::BadInterruptMs;
  if (c.hangoverMs < 50 || c.hangoverMs > 2000) return Status::BadHangoverMs;
  return Status::Ok;
}

Vad::Vad(const Config& c) : cfg_(validate(c) == Status::Ok ? c : Config()), sig_(cfg_.sampleRate) {
  frameSamples_ = (cfg_.sampleRate / 1000) * cfg_.frameMs;
  decim_ = sig_.decim();
  groupDelay_ = sig_.groupDelay();
  reset();
}

void Vad::reset() {
  near_.reset();
  far_.reset();
  sig_.reset();
  for (int b = 0; b < kBands; b++) {
    smooth_[b] = 0;
    curMin_[b] = 1e300;
    floor_[b] = kMinFloorPerBin * (kEdges[b + 1] - kEdges[b]);
    for (int s = 0; s < kMinSub; s++) subMin_[s][b] = 1e300;
    for (int j = 0; j <= kFluxLag; j++) shapeHist_[j][b] = 0;
    for (int j = 0; j <= kFluxLag; j++) shapeHist_[j][kBands] = 0;
  }
  subPos_ = 0;
  subCount_ = 0;
  hopsSeen_ = 0;
  shapePos_ = 0;
  for (int j = 0; j < kFluxKeep; j++) fluxHist_[j] = 0;
  fluxPos_ = 0;
  for (int j = 0; j < kBlocks; j++) blk_[j] = 0;
  blkPos_ = 0;
  hopSmooth_ = 0;
  hopCurMin_ = 1e300;
  for (int s = 0; s < kMinSub; s++) hopMin_[s] = 1e300;
  hopFloor_ = 0;
  for (int j = 0; j < kSustainBlocks; j++) hfBlk_[j] = 0;
  for (int j = 0; j < kHop / kBlk; j++) hfHop_[j] = farHfHop_[j] = 0;
  hfPos_ = 0;
  hfSmooth_ = 0;
  hfCurMin_ = 1e300;
  for (int s = 0; s < kMinSub; s++) hfMin_[s] = 1e300;
  hfFloor_ = 0;
  for (int j = 0; j < kSustainBlocks; j++) lpBlk_[j] = 0;
  lpPos_ = 0;
  lpSmooth_ = 0;
  lpCurMin_ = 1e300;
  for (int s = 0; s < kMinSub; s++) lpMin_[s] = 1e300;
  lpFloor_ = 0;
  closedMins();
  echo_.reset();
  onset8_.reset();
  farQuiet_ = OnsetStage::kFarQuiet;
  viaStage_ = false;
  bgDb_ = 0;
  bgVar_ = 0;
  bgHops_ = 0;
  for (int j = 0; j < kBgHist; j++) {
    bgHistDb_[j] = bgHistVar_[j] = bgHistLvl_[j] = 0;
    bgHistSpeech_[j] = false;
    bgHistHop_[j] = -1;
  }
  speechRun_ = 0;
  candViaOnset_ = false;
  candGap_ = 0;
  fgQuiet_ = 0;
  lastFgEnd_ = 0;
  segVoiced_ = 0;
  segUnsettled_ = false;
  prevVoicedFg_ = false;
  quietRun_ = 0;
  for (int j = 0; j < kRecent; j++) recent_[j] = false;
  recentPos_ = 0;
  recentCount_ = 0;
  for (int j = 0; j < kFgRecent; j++) fgRecent_[j] = false;
  fgRecentPos_ = 0;
  fgRecentCount_ = 0;
  segHops_ = 0;
  segSpeech_ = 0;
  for (int i = 0; i < 3; i++) {
    statCache_[i] = 0;
    statStamp_[i] = -1;
  }
  speaking_ = false;
  reachedFired_ = false;
  onset_ = -1;
  end_ = -1;
  reached_ = -1;
  candOnset_ = -1;
  lastSpeechEnd_ = 0;
  lastMs_ = 0;
  samples_ = 0;
  hop8_ = 0;
  std::memset(powRing_, 0, sizeof powRing_);
  std::memset(&feat_, 0, sizeof feat_);
  feat_.echoDelay = -1;
}

// The minima of the closed sub-windows change only when a sub-window closes.
void Vad::closedMins() {
  for (int b = 0; b < kBands; b++) {
    double m = 1e300;
    for (int s = 0; s < kMinSub; s++)
      if (subMin_[s][b] < m) m = subMin_[s][b];
    closedMin_[b] = m;
  }
  const double* subs[3] = {hopMin_, lpMin_, hfMin_};
  for (int i = 0; i < 3; i++) {
    double m = 1e300;
    for (int s = 0; s < kMinSub; s++)
      if (subs[i][s] < m) m = subs[i][s];
    closedMin_[kBands + i] = m;
  }
}

Status Vad::setInterruptMs(int ms) {
  if (ms < 0 || ms > 10000) return Status::BadInterruptMs;
  cfg_.interruptMs = ms;
  return Status::Ok;
}

// One 10 ms hop at 8 kHz (both buffers are filtered in place).
// far8: the far end's hop, or nullptr when it is silent (or not given: farGiven).
VAD_HOT uint32_t Vad::hop(float* near8, float* far8, bool farGiven) {
  uint32_t flags = 0;
  sig_.filters(near_, near8, far_, far8);
  // the near end's fine spectrum goes straight into the history the tone/note vetoes
  // compare with (bins outside kEdges[0]..kEdges[kBands] stay 0 there)
  float* slot = powRing_[hop8_ % kRing];
  sig_.bands(near_, near8, slot);
  // 2 ms block energies below 1 kHz (the newest 40 samples of the 4 kHz path)
  double lpE = 0;
  for (int j = 0; j < kHop / kBlk; j++) {
    const float* v = sig_.low() + kPitchHist - kHop / 2 + (kBlk / 2) * j;
    const double s = dot4(v, v, kBlk / 2);
    lpBlk_[lpPos_] = s;
    if (++lpPos_ == kSustainBlocks) lpPos_ = 0;
    lpE += s;
  }

  // 2 ms block energies and the hop energy
  double hopE = 0;
  for (int j = 0; j < kHop / kBlk; j++) {
    const double s = dot4(near8 + kBlk * j, near8 + kBlk * j, kBlk);
    blk_[blkPos_] = s;
    blkPos_ = (blkPos_ + 1) % kBlocks;
    hopE += s;
  }

  // the near end's 4-8 kHz energy of this hop, and the echo predicted in it
  double hfE = 0, hfPred = 0;
  for (int j = 0; j < kHop / kBlk; j++) hfE += hfHop_[j];

  // far end: band history and echo estimate
  bool farActive = false;
  farQuiet_ = far8 ? 0 : (farQuiet_ < OnsetStage::kFarQuiet ? farQuiet_ + 1 : farQuiet_);
  if (farGiven) {
    // a silent far end (digital zero for a while) has no bands: no FFT for it
    double farHf = 0;
    if (far8) {
      sig_.bands(far_, far8);
      for (int j = 0; j < kHop / kBlk; j++) farHf += farHfHop_[j];
    }
    farActive = echo_.push(far8 ? far_.band : nullptr, farHf, hfE, far_.silentHops == 0);
  } else {
    echo_.absent();
  }
  // residual near-end energy after the predicted echo
  double resid[kBands];
  for (int b = 0; b < kBands; b++) resid[b] = near_.band[b];
  if (farActive) {
    flags |= kFarEndActive;
    // the echo path is learnt while the near end is not talking (no double talk: in a
    // candidate or a segment a shadow fit learns instead, vad_echo.cpp) and, once the
    // delay is known, only inside a talk spurt whose echo has had time to arrive: not
    // in its first delay + spread hops, nor once the far end is silent (an echo path
    // that pauses with the far end, a playout buffer, plays the tail of a spurt only
    // when the next one starts)
    if (echo_.settled()) echo_.learn(near_.band, speaking_ || speechRun_ > 0);
    echo_.subtract(resid);
    hfPred = echo_.predictHf();
  }
  // 4-8 kHz block energies less the predicted echo (a fricative over the agent's
  // voice counts when the agent's own 4-8 kHz echo is small); zero at 8 kHz input.
  // The blocks (for sustain) less a fifth of the hop's prediction each, the hop's
  // energy (for the SNR) less all of it: its timing is known to a hop, not a block.
  for (int j = 0; j < kHop / kBlk; j++) {
    const double r = hfHop_[j] - hfPred / (kHop / kBlk);
    hfBlk_[hfPos_] = r > 0 ? r : 0;
    if (++hfPos_ == kSustainBlocks) hfPos_ = 0;
  }
  const double hfRes = hfE > hfPred ? hfE - hfPred : 0;

  // noise floors: minimum statistics over kMinSub * kMinSubLen hops
  hopsSeen_++;
  const bool warm = hopsSeen_ >= kFft / kHop;  // the FFT window holds real samples
  if (warm) {
    for (int b = 0; b < kBands; b++) {
      smooth_[b] = hopsSeen_ == kFft / kHop ? near_.band[b] : 0.5 * smooth_[b] + 0.5 * near_.band[b];
      if (smooth_[b] < curMin_[b]) curMin_[b] = smooth_[b];
    }
    hopSmooth_ = hopsSeen_ == kFft / kHop ? hopE : 0.5 * hopSmooth_ + 0.5 * hopE;
    if (hopSmooth_ < hopCurMin_) hopCurMin_ = hopSmooth_;
    lpSmooth_ = hopsSeen_ == kFft / kHop ? lpE : 0.5 * lpSmooth_ + 0.5 * lpE;
    if (lpSmooth_ < lpCurMin_) lpCurMin_ = lpSmooth_;
    hfSmooth_ = hopsSeen_ == kFft / kHop ? hfE : 0.5 * hfSmooth_ + 0.5 * hfE;
    if (hfSmooth_ < hfCurMin_) hfCurMin_ = hfSmooth_;
    subCount_++;
    if (subCount_ == kMinSubLen) {
      for (int b = 0; b < kBands; b++) {
        subMin_[subPos_][b] = curMin_[b];
        curMin_[b] = 1e300;
      }
      hopMin_[subPos_] = hopCurMin_;
      hopCurMin_ = 1e300;
      lpMin_[subPos_] = lpCurMin_;
      lpCurMin_ = 1e300;
      hfMin_[subPos_] = hfCurMin_;
      hfCurMin_ = 1e300;
      subPos_ = (subPos_ + 1) % kMinSub;
      subCount_ = 0;
      closedMins();
    }
    for (int b = 0; b < kBands; b++) {
      const double m = curMin_[b] < closedMin_[b] ? curMin_[b] : closedMin_[b];
      const double lo = kMinFloorPerBin * (kEdges[b + 1] - kEdges[b]);
      const double f = kFloorBias * m;
      floor_[b] = f > lo ? f : lo;
    }
    double m = hopCurMin_ < closedMin_[kBands] ? hopCurMin_ : closedMin_[kBands];
    const double lo = kHop * 1e-9;
    hopFloor_ = kFloorBias * m > lo ? kFloorBias * m : lo;
    m = lpCurMin_ < closedMin_[kBands + 1] ? lpCurMin_ : closedMin_[kBands + 1];
    lpFloor_ = kFloorBias * m > lo ? kFloorBias * m : lo;
    m = hfCurMin_ < closedMin_[kBands + 2] ? hfCurMin_ : closedMin_[kBands + 2];
    hfFloor_ = kFloorBias * m > 2 * lo ? kFloorBias * m : 2 * lo;
  }

  // evidence: band SNR, and the spectral shape (dB, mean removed) for its change;
  // at 16/48 kHz input the 4-8 kHz energy joins both (fricatives live there)
  const int nShape = decim_ > 1 ? kBands + 1 : kBands;
  double snrSum = 0;
  double shape[kBands + 1];
  double shapeMean = 0;
  // foreground: the broadband level over the floor (dB) above the background, the
  // mean (and spread) of that level over quiet hops. Stationary noise sits a few dB
  // over its floor; babble and music sit well above it ("busy") and fluctuate, and
  // there a start must stand out from them by a few spreads.
  double lvl = 1;  // (its dB is used only when warm)
  if (warm) {
    double rs = 0, fs = 0;
    for (int b = 0; b < kBands; b++) {
      rs += resid[b];
      fs += floor_[b];
    }
    // over an active far end the 4-8 kHz band joins as kHfWeight more bands: a
    // fricative over the agent's voice may have nothing left below 4 kHz once the
    // echo is taken out. (Not otherwise: over music and babble it costs misses.)
    lvl = rs / fs;
    if (farActive && decim_ > 1 && hfFloor_ > 0) lvl = (kBands * lvl + kHfWeight * (hfRes / hfFloor_)) / (kBands + kHfWeight);
  }
  // every dB of the hop at once, 8 (then 4) at a time: the bands' SNR and level, the
  // 4-8 kHz SNR and level, the foreground level (each as db10 gives it; the sums
  // below in their order as before)
  const double hfGain = hfFloor_ > 0 ? hfRes / hfFloor_ : 1;
  double gain[kBands], gainDb[kBands], level[kBands];
  for (int b = 0; b < kBands; b++) {
    gain[b] = resid[b] / floor_[b];
    level[b] = near_.band[b] + floor_[b];
  }
  static_assert(kBands % 8 == 0, "db10v takes the bands 8 at a time");
  for (int b = 0; b < kBands; b += 8) {
    db10v<v8d, v8q>(gain + b, gainDb + b);
    db10v<v8d, v8q>(level + b, shape + b);
  }
  const double hfAbs = OnsetStage::kAbs * 2 * kHop * 1e-9;  // (as hfFloor_'s lower bound)
  const double more[4] = {hfGain, hfE + hfFloor_ + 1e-12, 1 + lvl, hfRes > hfAbs ? hfRes : hfAbs};
  double moreDb[4];
  db10v<v4d, v4q>(more, moreDb);
  for (int b = 0; b < kBands; b++) {
    if (gain[b] > 1) snrSum += gainDb[b] < 30 ? gainDb[b] : 30;
    shapeMean += shape[b];
  }
  if (decim_ > 1) {
    // 4-8 kHz counts as kHfWeight bands, less the agent's predicted echo
    if (hfFloor_ > 0 && hfGain > 1) snrSum += kHfWeight * (moreDb[0] < 30 ? moreDb[0] : 30);
    shape[kBands] = moreDb[1];
    shapeMean += shape[kBands];
  }
  const double snrDb = snrSum / kBands;
  shapeMean = shapeMean / nShape;
  const double fgDb = warm ? moreDb[2] - bgDb_ : 0;
  const double busy = clamp01((bgDb_ - kBgFree) / kBgRamp);
  const double fgThr = busy * clampTo(kFgK * std::sqrt(bgVar_), kFgMin, kFgMax);
  // the narrow-band onset stage (vad_onset.h): learns a quiet, far-end-free background;
  // after a start of its own that no speech hop has followed yet, moves to the level
  bool stageFires = false;
  if (warm) {
    using Mode = OnsetStage::Mode;
    const bool idle = farQuiet_ < OnsetStage::kFarQuiet || (speaking_ && !(viaStage_ && segSpeech_ == 0));
    const Mode mode = idle ? Mode::Idle : speaking_ ? Mode::Relearn : Mode::Learn;
    // the band levels, when the stage reads them (not in a segment, nor near the far end)
    double onDb[OnsetStage::kBands];
    if (!idle) {
      double onE[kBands];
      for (int b = 0; b < kBands; b++) {
        const double lo = OnsetStage::kAbs * kMinFloorPerBin * (kEdges[b + 1] - kEdges[b]);
        onE[b] = resid[b] > lo ? resid[b] : lo;
      }
      for (int b = 0; b < kBands; b += 8) db10v<v8d, v8q>(onE + b, onDb + b);
      onDb[kBands] = moreDb[3];
    }
    // over babble and music only the 4-8 kHz band's rise (their onsets, notes and the
    // crowd's syllables, are below 4 kHz; a word's unvoiced first consonant is above), on
    // a hop not quieter than the background by its foreground margin (a lull: clicks)
    const int fires = onset8_.hop(idle ? nullptr : onDb, decim_ > 1 ? kBands + 1 : kBands, mode);
    stageFires = busy <= OnsetStage::kBusy ? (fires & OnsetStage::kFires) != 0
                                           : (fires & OnsetStage::kFiresHf) != 0 && fgDb > -fgThr;
  }
  const int prev = (shapePos_ + 1) % (kFluxLag + 1);  // kFluxLag hops ago
  double flux = 0;
  for (int b = 0; b < nShape; b++) {
    shape[b] = shape[b] - shapeMean;
    const double d = shape[b] - shapeHist_[prev][b];
    flux += d < 0 ? -d : d;
    shapeHist_[prev][b] = shape[b];
  }
  shapePos_ = prev;
  flux = flux / nShape;
  fluxHist_[fluxPos_] = flux;
  fluxPos_ = (fluxPos_ + 1) % kFluxKeep;
  double fluxMax = 0;
  for (int j = 0; j < kFluxKeep; j++)
    if (fluxHist_[j] > fluxMax) fluxMax = fluxHist_[j];

  // sustain: share of the last 15 blocks (30 ms) 3 dB above their floor, below
  // 1 kHz (voiced speech) or over the whole band (fricatives); clicks are shorter
  // A block counts when it is also within 20 dB of the loudest block of those 30 ms:
  // a click's decaying tail stays above a floor near digital silence for its whole
  // length, but not near its own peak; vowels and fricatives do.
  static_assert((kBlocks & (kBlocks - 1)) == 0, "the block ring is indexed with a mask");
  // the three kinds of blocks newest first (lpBlk_ and hfBlk_ are rings of their own)
  // (a 15-block ring newest first is two runs: from pos - 1 down to 0, then from the end)
  double lp[kSustainBlocks], bb[kSustainBlocks], hf[kSustainBlocks];
  auto newestFirst = [](const double* ring, int pos, double* out) {
    int j = 0;
    for (int k = pos - 1; k >= 0; k--) out[j++] = ring[k];
    for (int k = kSustainBlocks - 1; k >= pos; k--) out[j++] = ring[k];
  };
  newestFirst(lpBlk_, lpPos_, lp);
  newestFirst(hfBlk_, hfPos_, hf);
  for (int j = 0; j < kSustainBlocks; j++) bb[j] = blk_[(blkPos_ - 1 - j + kBlocks) & (kBlocks - 1)];
  double lpMax = 0, bbMax = 0, hfMax = 0;
  for (int j = 0; j < kSustainBlocks; j++) {
    if (lp[j] > lpMax) lpMax = lp[j];
    if (bb[j] > bbMax) bbMax = bb[j];
    if (hf[j] > hfMax) hfMax = hf[j];
  }
  const double lpFl = (2.0 * lpFloor_) / (kHop / kBlk);
  const double bbFl = (2.0 * hopFloor_) / (kHop / kBlk);
  const double hfFl = (2.0 * hfFloor_) / (kHop / kBlk);
  const double lpThr = lpFl > kPeakRel * lpMax ? lpFl : kPeakRel * lpMax;
  const double bbThr = bbFl > kPeakRel * bbMax ? bbFl : kPeakRel * bbMax;
  const double hfThr = hfFl > kPeakRel * hfMax ? hfFl : kPeakRel * hfMax;
  // the blocks above their threshold as bits (bit j: age j), counted, and the oldest
  // (age in blocks, newest = 0; -1 none), for a word's onset; without branches
  // (which way each goes is hard to predict)
  uint32_t mLp = 0, mBb = 0, mHf = 0;
  for (int j = 0; j < kSustainBlocks; j++) {
    mLp |= static_cast<uint32_t>(lp[j] > lpThr) << j;
    mBb |= static_cast<uint32_t>(bb[j] > bbThr) << j;
    mHf |= static_cast<uint32_t>(hf[j] > hfThr) << j;
  }
  if (decim_ == 1) mHf = 0;
  const int aboveLp = __builtin_popcount(mLp), aboveBb = __builtin_popcount(mBb), aboveHf = __builtin_popcount(mHf);
  auto oldest = [](uint32_t m) { return m ? 31 - __builtin_clz(m) : -1; };
  const int oldLp = oldest(mLp), oldBb = oldest(mBb), oldHf = oldest(mHf);
  int above = aboveLp > aboveBb ? aboveLp : aboveBb;
  if (aboveHf > above) above = aboveHf;
  double sustain = static_cast<double>(above) / kSustainBlocks;
  // the same over the span since the first sustained block (a word's onset)
  auto since = [](int n, int oldest) { return static_cast<double>(n) / (oldest + 1 > kOnsetSpan ? oldest + 1 : kOnsetSpan); };
  double sustainOn = since(aboveLp, oldLp);
  if (since(aboveBb, oldBb) > sustainOn) sustainOn = since(aboveBb, oldBb);
  if (since(aboveHf, oldHf) > sustainOn) sustainOn = since(aboveHf, oldHf);

  const int64_t h = hop8_;
  // the gates below make the score 0 whatever the rest says: periodicity and the
  // tone/note vetoes are computed only where they can matter
  const bool open = warm && snrDb > kSnrGate && (sustain > kSustainGate || sustainOn > kSustainGate);
  double statLong = 0, statShort = 0, peak = 0;
  if (open) {
    // notes: the 100 ms stationarity averaged over 3 hops, so that it does not flicker
    statLong = (statLongAt(h) + statLongAt(h - 1) + statLongAt(h - 2)) / 3.0;
    statShort = specCorr(h, kStatShort);
    peak = peakShare(slot);
  }
  feat_.stat = statLong;
  feat_.statShort = statShort;
  feat_.peak = peak;
  const double harm = open ? sig_.periodicity() : 0;
  // a word's onset on a quiet stream, not in a segment (D's evidence keeps the 30 ms
  // window), not in the stream's first second, and not in the echo window of a far-end
  // talk spurt's start (its echo's onset would be as sudden as the user's)
  const double rise = bb[0] > bb[1] ? (bb[0] > bb[2] ? bb[0] : bb[2]) : (bb[1] > bb[2] ? bb[1] : bb[2]);
  auto climbed = [&]() {
    int m = 0;  // the oldest block within 1.5 dB of the loudest (a peak two blocks wide)
    for (int j = 1; j < kSustainBlocks; j++)
      if (bb[j] * kOnsetClimbTop >= bbMax) m = j;
    const double b1 = blk_[(blkPos_ - 2 - m + kBlocks) & (kBlocks - 1)];
    const double b2 = blk_[(blkPos_ - 3 - m + kBlocks) & (kBlocks - 1)];
    return b2 < b1 && b1 * kOnsetClimbTop < bbMax && b2 * kOnsetClimbRise <= bbMax && b2 >= kOnsetClimbFloor * bbFl;
  };
  const bool onsetHop = open && sustainOn > sustain && !speaking_ && bgHops_ >= kBgSettled && peak < kStartPeak &&
                        (rise >= kOnsetRise * bbMax || climbed()) &&
                        (!farActive || echo_.spurtHops() > EchoModel::kDelays);
  const bool viaOnset = onsetHop && sustain <= kSustainGate && sustainOn > kSustainGate;  // admitted by it alone
  // the stage's start: rising over the last 40 ms (a click stays in the FFT window that
  // long after it has passed) and not a tone's first hops (as the onset rule's second hop;
  // the peak share is known only on open hops: else now)
  bool stageStart = stageFires && (open ? peak : peakShare(slot)) < kOnsetPeak;
  for (int j = 0; stageStart && j < OnsetStage::kRiseBlocks; j++)
    stageStart = rise >= kOnsetRise * blk_[(blkPos_ - 1 - j + kBlocks) & (kBlocks - 1)];
  if (onsetHop) sustain = sustainOn;
  const double score = open && sustain > kSustainGate ? scoreOf(snrDb, sustain, harm, fluxMax, peak, statShort, statLong) : 0;
  feat_.fgDb = fgDb;
  feat_.bgDb = bgDb_;
  feat_.fgThr = fgThr;
  feat_.snrDb = snrDb;
  feat_.sustain = sustain;
  feat_.harm = harm;
  feat_.flux = fluxMax;
  feat_.score = score;
  feat_.echoDelay = echo_.delay();

  // state machine
  const int64_t hopStart = hop8_ * decim_ * kHop;  // in input samples
  const int64_t hopEnd = hopStart + decim_ * kHop;
  hop8_++;
  const bool isSpeech = score >= 0.5;
  // voicing that counts towards D: stronger over a busy background (a crowd of voices
  // is less periodic than one voice standing out of it)
  const double voicedHarm = kVoicedHarm + busy * kBusyHarm;
  // stands out from the background too, and is not a tone (two peaks hold the energy)
  const bool isFg = isSpeech && fgDb >= fgThr && peak < kStartPeak;
  // a voiced hop for D: periodic, standing out, not a tone, with some speech evidence
  // even if under the speech threshold (a vowel's edge next to a consonant cluster:
  // "ex|cuse" over an active far end, whose echo fills the 4-8 kHz band)
  const bool voicedFg = harm >= voicedHarm && score >= kVoicedScore && fgDb >= fgThr && peak < kStartPeak;
  if (warm) {
    // (kept per hop for relearnSegmentStart: the background before this hop's update,
    // the hop's level over the floor, whether it was speech)
    const int slot = static_cast<int>((hop8_ - 1) % kBgHist);
    bgHistDb_[slot] = bgDb_;
    bgHistVar_[slot] = bgVar_;
    bgHistLvl_[slot] = fgDb + bgDb_;
    bgHistSpeech_[slot] = isSpeech;
    bgHistHop_[slot] = hop8_ - 1;
    bgHops_++;
    // the background learns quickly from quiet hops and from the non-speech hops of a
    // segment close to it, slowly from the rest (a long utterance is not background)
    const bool fast = !speaking_ || (!isSpeech && fgDb < kFgLearn) || (segUnsettled_ && harm < voicedHarm);
    const double a = fast ? kBgFast : kBgSlow;
    bgDb_ += a * fgDb;
    bgVar_ += a * (fgDb * fgDb - bgVar_);
  }
  fgRecentCount_ += (isFg ? 1 : 0) - (fgRecent_[fgRecentPos_] ? 1 : 0);
  fgRecent_[fgRecentPos_] = isFg;
  fgRecentPos_ = (fgRecentPos_ + 1) % kFgRecent;
  recentCount_ += (isSpeech ? 1 : 0) - (recent_[recentPos_] ? 1 : 0);
  recent_[recentPos_] = isSpeech;
  recentPos_ = (recentPos_ + 1) % kRecent;
  // speech density of the (candidate) segment, counted from its first speech hop
  // (in a segment the onset stage started, D's density counts from its first speech hop too)
  if ((!speaking_ && (isFg || stageStart) && speechRun_ == 0) || (speaking_ && viaStage_ && segSpeech_ == 0 && isFg)) {
    segHops_ = 0;
    segSpeech_ = 0;
    // the voiced hop just before the first speech hop belongs to the segment
    segVoiced_ = prevVoicedFg_ ? 1 : 0;
  }
  segHops_++;
  if (isSpeech) segSpeech_++;
  if (!speaking_ && stageStart) {
    // the onset stage starts a segment on its own (with a candidate's onset if one is open)
    if (speechRun_ == 0) candOnset_ = refineOnset(hopEnd);
    flags |= start(true);
  } else if (!speaking_) {
    // a candidate segment: foreground speech hops with gaps of up to kCandGap hops;
    // it starts once it has kStartHops of them
    // (a hop admitted by the onset rule alone does not join a candidate across a gap)
    if (isFg && !(viaOnset && speechRun_ > 0 && candGap_ > 0)) {
      if (speechRun_ == 0) candOnset_ = refineOnset(hopEnd), candViaOnset_ = viaOnset;
      speechRun_++;
      lastFgEnd_ = hopEnd;
      candGap_ = 0;
      if (voicedFg) segVoiced_++;
      const bool startOk = !candViaOnset_ || speechRun_ > kStartHops || peak < kOnsetPeak || harm >= kOnsetHarm;
      if (speechRun_ >= kStartHops && startOk) flags |= start(false);
    } else if (speechRun_ > 0 && (++candGap_ > kCandGap || (candViaOnset_ && speechRun_ == 1))) {
      // (a candidate begun by the onset rule alone needs the very next hop)
      speechRun_ = 0;
      segVoiced_ = 0;
      // not speech after all: its hops are learnt as the far end's echo
      echo_.release(true);
    } else if (speechRun_ > 0 && voicedFg) {
      segVoiced_++;
    }
  } else {
    if (voicedFg) segVoiced_++;
    if (isFg) {
      fgQuiet_ = 0;
      lastFgEnd_ = hopEnd;
    } else {
      fgQuiet_++;
    }
    if (isSpeech) {
      quietRun_ = 0;
    } else {
      if (quietRun_ == 0) lastSpeechEnd_ = hopStart;
      quietRun_++;
    }
    // the segment ends after the hangover of silence, or when only background-like
    // sound (babble, music) has kept it going for kFgDrop hops
    const bool silent = quietRun_ * 10 >= cfg_.hangoverMs;
    if (silent || fgQuiet_ >= kFgDrop) {
      speaking_ = false;
      speechRun_ = 0;
      segVoiced_ = 0;
      segUnsettled_ = false;
      end_ = silent ? lastSpeechEnd_ : lastFgEnd_;
      lastMs_ = ((end_ - onset_) * 1000.0) / cfg_.sampleRate;
      flags |= kSpeechEnd;
      echo_.release(false);  // kept only if the segment was the echo after all
    }
  }
  prevVoicedFg_ = voicedFg;
  if (speaking_) {
    flags |= kSpeech;
    const double ms = ((hopEnd - onset_) * 1000.0) / cfg_.sampleRate;
    // D = 0 fires with the start. Otherwise the segment must have had voiced hops
    // (noise bursts and level steps are loud but never periodic), be speech for at
    // least half of its hops (music: every note onset looks like speech for a
    // moment), and speech must be going on: this hop, or a short dropout in a
    // last 100 ms that was mostly speech.
    const bool inWord = isSpeech || (quietRun_ <= kDropoutHops && recentCount_ >= kRecentMin);
    const bool dense = 2 * segSpeech_ >= segHops_;
    // over a busy background the segment needs more voiced foreground hops (babble:
    // a voice of the crowd stands out now and then, for a syllable or two)
    const int needVoiced = kReachVoiced + static_cast<int>(busy * kBusyVoiced + 0.5);
    // and much of the last 200 ms must stand out (not a syllable now and then)
    const bool standsOut = fgRecentCount_ >= static_cast<int>(busy * kBusyRecent + 0.5);
    const bool confirmed = cfg_.interruptMs == 0 || (segVoiced_ >= needVoiced && dense && inWord && standsOut);
    if (!reachedFired_ && confirmed && ms >= cfg_.interruptMs) {
      reachedFired_ = true;
      flags |= kDurationReached;
      const int64_t at = onset_ + static_cast<int64_t>(cfg_.interruptMs) * (cfg_.sampleRate / 1000);
      reached_ = at > hopStart ? at : hopStart;
    }
  }
  return flags;
}

// A segment starts (at the candidate's onset); returns its flag.
uint32_t Vad::start(bool viaStage) {
  speaking_ = true;
  viaStage_ = viaStage;
  reachedFired_ = false;
  quietRun_ = 0;
  fgQuiet_ = 0;
  onset_ = candOnset_;
  reached_ = -1;
  segUnsettled_ = bgHops_ < kBgOpening;
  relearnSegmentStart();
  return kSpeechStart;
}

// At a segment start: when the background was quiet (not busy) and learnt before the
// onset, the hops from the onset on are learnt again as segment hops (slowly, unless
// non-speech close to the background), from the background as it was before them.
void Vad::relearnSegmentStart() {
  const int64_t last = hop8_ - 1;  // this hop
  const int64_t first = onset_ / (static_cast<int64_t>(decim_) * kHop);
  if (first < 0 || last - first >= kBgHist) return;
  const int s0 = static_cast<int>(first % kBgHist);
  if (bgHistHop_[s0] != first || bgHops_ - (last - first + 1) < kBgSettled) return;
  if (bgHistDb_[s0] > kBgFree) return;
  double bg = bgHistDb_[s0];
  double v = bgHistVar_[s0];
  for (int64_t h = first; h <= last; h++) {
    const int k = static_cast<int>(h % kBgHist);
    if (bgHistHop_[k] != h) continue;
    const double fg = bgHistLvl_[k] - bg;
    const double a = !bgHistSpeech_[k] && fg < kFgLearn ? kBgFast : kBgSlow;
    bg += a * fg;
    v += a * (fg * fg - v);
  }
  bgDb_ = bg;
  bgVar_ = v;
}

// Normalized correlation of the fine spectra of hops h and h - lag (0 before the stream).
VAD_HOT double Vad::specCorr(int64_t h, int lag) const {
  if (h - lag < 0) return 0;
  const float* cur = powRing_[h % kRing];
  const float* old = powRing_[(h - lag) % kRing];
  // bins outside kEdges[0]..kEdges[kBands] are 0 in the ring: whole vectors from bin 0
  v4 s = splat(0), sxx = splat(0), syy = splat(0);
  for (int k = 0; k < kSpecEnd; k += 4) {
    const v4 c = ld(cur + k), o = ld(old + k);
    s += c * o;
    sxx += c * c;
    syy += o * o;
  }
  const double xx = hsum(sxx), yy = hsum(syy);
  return xx > 0 && yy > 0 ? hsum(s) / std::sqrt(xx * yy) : 0;
}

// specCorr(h, kStatLag), remembered for the two hops after (the 3-hop average).
double Vad::statLongAt(int64_t h) {
  if (h < 0) return 0;
  const int i = static_cast<int>(h % 3);
  if (statStamp_[i] != h) {
    statCache_[i] = specCorr(h, kStatLag);
    statStamp_[i] = h;
  }
  return statCache_[i];
}

// Share of the energy in the two strongest 3-bin peaks (at least 3 bins apart).
VAD_HOT double Vad::peakShare(const float* cur) const {
  v4 acc = splat(0);
  for (int k = 0; k < kSpecEnd; k += 4) acc += ld(cur + k);
  const double tot = hsum(acc);
  // 3-bin sums over k0..kEnd - 1, 4 at a time (0 past the end: sums are >= 0, and
  // both maxima start from 0); the largest, the first bin that has it, then the
  // largest at least 3 bins from it
  constexpr int k0 = kEdges[0] + 1, kEnd = kEdges[kBands] - 1, kVec = (kEnd - k0 + 3) & ~3;
  alignas(16) float s3[kVec];
  for (int i = 0; i < kVec; i += 4) st(s3 + i, (ld(cur + k0 + i - 1) + ld(cur + k0 + i)) + ld(cur + k0 + i + 1));
  for (int i = kEnd - k0; i < kVec; i++) s3[i] = 0;
  v4 mx = splat(0);
  for (int i = 0; i < kVec; i += 4) mx = vmax(mx, ld(s3 + i));
  const float best = hmax(mx);
  float best2 = 0;
  if (best > 0) {
    int i1 = 0;
    while (s3[i1] != best) i1++;
    for (int i = i1 - 2; i <= i1 + 2; i++)
      if (i >= 0 && i < kVec) s3[i] = 0;
    mx = splat(0);
    for (int i = 0; i < kVec; i += 4) mx = vmax(mx, ld(s3 + i));
    best2 = hmax(mx);
  }
  return tot > 0 ? (best + best2) / tot : 0;
}

// Backdates a speech start: the earliest 2 ms block of the contiguous run (gaps of
// up to 2 blocks allowed) of blocks above the floor that ends at the newest block.
int64_t Vad::refineOnset(int64_t hopEnd) const {
  const double thr = (2.0 * hopFloor_) / (kHop / kBlk);
  int earliest = 0;  // blocks back from the newest (1 = newest)
  int gap = 0;
  for (int j = 1; j <= kBlocks - 1; j++) {
    if (blk_[(blkPos_ - j + kBlocks) % kBlocks] > thr) {
      earliest = j;
      gap = 0;
    } else if (++gap > 2 && earliest > 0) {
      break;
    }
  }
  if (earliest == 0) earliest = kHop / kBlk;
  // block j back starts kBlk * j internal samples before the end of the hop
  int64_t at = hopEnd - static_cast<int64_t>(kBlk * earliest) * decim_ - groupDelay_;
  return at < 0 ? 0 : at;
}

double Vad::scoreOf(double snrDb, double sustain, double harm, double flux, double peak, double statShort,
                    double statLong) const {
  // evidence in "log-odds" units: band SNR, periodicity and spectral-shape change add up
  const double zSnr = clampTo(snrDb - 3.0, -3.0, 7.5) / 3.0;
  const double zHarm = clampTo((harm - 0.33) / 0.1, -1.0, 3.0);
  const double zFlux = clampTo((flux - 3.0) / 1.5, -1.5, 1.0);
  const double p = clamp01(0.5 + (zSnr + zHarm + zFlux) / 4.0);
  // hard gates: energy above the floor, sustained below 1 kHz (not a click), not a tone
  const double gSnr = clamp01((snrDb - kSnrGate) / 1.5);
  const double gSus = clamp01((sustain - kSustainGate) / 0.2);
  // tones: two peaks hold nearly all the energy and do not move over 30 ms;
  // notes: the fine spectrum stays the same over 100 ms (speech moves its harmonics)
  const double tone = clamp01((peak - 0.8) / 0.1) * clamp01((statShort - 0.9) / 0.07);
  const double note = clamp01((statLong - 0.8) / 0.08);
  const double tonal = tone > note ? tone : note;
  return p * gSnr * gSus * (1 - tonal);
}

uint32_t Vad::process(const int16_t* pcm, const int16_t* farEnd, double* out) {
  uint32_t flags = 0;
  const int hopIn = kHop * decim_;
  const int hops = frameSamples_ / hopIn;
  for (int h = 0; h < hops; h++) {
    sig_.toInternal(near_, pcm + h * hopIn, n8_, hfHop_);
    bool farLive = false;
    if (farEnd) {
      // the far end while the agent is silent: after kFarSkip hops of digital zero
      // its filters and window hold (almost exactly) zeros; skip its processing
      const int16_t* f = farEnd + h * hopIn;
      int nz = 0;
      for (int i = 0; i < hopIn; i++) nz |= f[i];
      far_.silentHops = nz ? 0 : far_.silentHops + 1;
      if (far_.silentHops == kFarSkip + 1) far_.reset(), far_.silentHops = kFarSkip + 1;
      farLive = far_.silentHops <= kFarSkip;
      if (farLive) sig_.toInternal(far_, f, f8_, farHfHop_);
    }
    // events accumulate over the hops of the frame; kSpeech is the state at its end
    flags = (flags & ~static_cast<uint32_t>(kSpeech)) | hop(n8_, farLive ? f8_ : nullptr, farEnd != nullptr);
  }
  samples_ += frameSamples_;
  out[kOutFlags] = flags;
  out[kOutScore] = feat_.score;
  out[kOutSpeechMs] = speaking_ ? ((samples_ - onset_) * 1000.0) / cfg_.sampleRate : 0;
  out[kOutOnset] = static_cast<double>(onset_);
  out[kOutEnd] = static_cast<double>(end_);
  out[kOutReached] = static_cast<double>(reached_);
  out[kOutSnrDb] = feat_.snrDb;
  out[kOutEchoDelayMs] = feat_.echoDelay >= 0 ? feat_.echoDelay * 10.0 : -1;
  out[kOutLastMs] = lastMs_;
  return flags;
}

}  // namespace vad
}  // namespace voxbridge
