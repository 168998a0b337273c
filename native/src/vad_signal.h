// The VAD's signal path (step 1 of the pipeline in vad.h, and the input of the
// periodicity measure of step 4): PCM16 at 8, 16 or 48 kHz to 10 ms hops at 8 kHz
// (FIR decimation), the 100 Hz high-pass, the 1 kHz low-pass kept at 4 kHz, a real
// 256-point FFT into 16 band energies, and the periodicity of the low band. Float
// with 4-, 8- and 16-lane vectors; src/native/vadSignal.ts runs the same steps in
// double.
#pragma once
#include <cstdint>
#include <cstring>

namespace voxbridge {
namespace vad {

constexpr int kHop = 80;    // 10 ms at 8 kHz
constexpr int kFft = 256;
constexpr int kBandCount = 16;
// Band edges in FFT bins (31.25 Hz each at 8 kHz / 256): ~94 Hz .. 3.7 kHz, Bark-like.
inline constexpr int kEdges[kBandCount + 1] = {3, 6, 10, 13, 16, 20, 25, 29, 35, 41, 47, 55, 64, 74, 86, 101, 118};
constexpr int kSpecEnd = 120;  // kEdges[kBandCount] rounded up to whole 4-bin vectors
constexpr int kBlk = 16;       // samples per energy block (2 ms)
constexpr int kPitchHist = 152;  // 4 kHz samples kept for periodicity
constexpr int kRes = kPitchHist - 4;
constexpr int kPitchWin = 80;  // 20 ms correlation window
constexpr int kLagMin = 10;    // 400 Hz
constexpr int kLagMax = 67;    // 60 Hz
constexpr int kFir1 = 23;      // 48k -> 16k
constexpr int kFir2 = 31;      // 16k -> 8k
constexpr int kHalfHist = (kFir2 - 1) / 2;  // 16 kHz history per phase

// A biquad in block form: 8 outputs at a time from the FIR part of 8 inputs
// (through the all-pole part's impulse response, a lower-triangular 8 x 8) plus
// the two previous outputs (through the response to each): the recursion then
// waits once per 8 samples instead of once per sample.
struct BiquadBlock {
  float b0, b1, b2;
  alignas(32) float g[8][8];  // g[j][k] = h[j] for k >= j, else 0 (h: the 1/A(z) impulse response)
  alignas(32) float p1[8], p2[8];  // output k's response to y[-1] = 1, to y[-2] = 1
  void design(const double* b, const double* a);
};

// A biquad's state between hops: the last two inputs and outputs.
struct BiquadState {
  float x1, x2, y1, y2;
};

// One signal path: the near end or the far end.
struct Channel {
  // last 256 samples at 8 kHz (high-passed) as 128 complex values (even, odd
  // samples), circular
  alignas(32) float ringRe[kFft / 2], ringIm[kFft / 2];
  int ringPos;                   // where the next hop goes (a multiple of kHop / 2)
  int silentHops;                // hops of exact digital silence in a row (far end)
  BiquadState hp;  // the 100 Hz high-pass
  float x1[kFir1 - 1 + 480];     // 48 kHz decimation history
  alignas(16) float ev[kHalfHist + kHop + 4];  // 16 kHz history, even samples
  alignas(16) float od[kHalfHist + kHop + 4];  // ... odd samples
  double band[kBandCount];
  alignas(16) float pow[kFft / 2 + 4];
  void reset() { std::memset(this, 0, sizeof *this); }
};

class SignalPath {
 public:
  explicit SignalPath(int sampleRate);  // 8000, 16000 or 48000
  void reset();                         // the low band's filter and history
  int decim() const { return decim_; }  // input samples per internal sample
  int groupDelay() const { return groupDelay_; }  // of the decimation, in input samples
  // One hop of input (kHop * decim samples) -> kHop samples at 8 kHz in [-1, 1); at
  // 16/48 kHz, hfOut (if given) gets the 4-8 kHz energy of each 2 ms block.
  void toInternal(Channel& ch, const int16_t* pcm, float* out8, double* hfOut);
  // 100 Hz high-pass of both paths in place (far8 may be null), and the near end's
  // 1 kHz low-pass appended to the low band at 4 kHz.
  void filters(Channel& near, float* x, Channel& far, float* far8);
  // Appends a hop to the channel's window; its power spectrum (into pow, or ch.pow
  // when null: bins kEdges[0]..kEdges[kBandCount] - 1, and 0 from there to
  // kSpecEnd + 2; the rest untouched) and band energies.
  void bands(Channel& ch, const float* x, float* pow = nullptr);
  // Max normalized autocorrelation at 60-400 Hz of the LPC-whitened low band.
  double periodicity();
  // The low band at 4 kHz, kPitchHist samples, newest last.
  const float* low() const { return p4_; }

 private:
  int decim_;
  int groupDelay_;
  float h1_[kFir1];
  float h2_[kFir2];
  BiquadBlock hp_, lp_;
  alignas(32) float winRe_[kFft / 2], winIm_[kFft / 2];  // the Hann window, even and odd samples
  alignas(16) float cos_[kFft / 2 + 4], sin_[kFft / 2 + 4];
  alignas(16) float twr_[kFft / 2], twi_[kFft / 2];  // FFT twiddles per stage (see bands())
  BiquadState lpState_;  // the near end's 1 kHz low-pass
  alignas(16) float p4_[kPitchHist];
  alignas(16) float res_[kRes + 4];
  alignas(16) float re_[kFft / 2], im_[kFft / 2];  // scratch
};

}  // namespace vad
}  // namespace voxbridge
