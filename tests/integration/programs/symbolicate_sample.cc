// A program for tests/integration/test_symbolicate.py, compiled at test time with -O2 -g: inline
// functions, templates, lambdas, static helpers, a class hierarchy and the standard library, so
// its DWARF has deep inline chains, split (.cold) functions and symbol-table-only code.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace sample {

static int Mix(int x) { return x * 31 + (x >> 3); }

inline int Clamp(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

template <typename T>
T Twice(T v) {
  return v + v;
}

template <typename T, int N>
struct Ring {
  T items[N] = {};
  int head = 0;
  void Push(T v) { items[head++ % N] = Twice(v); }
  T Sum() const { return std::accumulate(items, items + N, T{}); }
};

struct Shape {
  virtual ~Shape() = default;
  virtual double Area() const = 0;
};
struct Square : Shape {
  explicit Square(double s) : side(s) {}
  double Area() const override { return side * side; }
  double side;
};
struct Circle : Shape {
  explicit Circle(double r) : radius(r) {}
  double Area() const override { return 3.14159 * radius * radius; }
  double radius;
};

class Registry {
 public:
  void Add(const std::string& name, int value) {
    if (name.empty()) throw std::invalid_argument("empty name");
    values_[name] += Clamp(Mix(value), -1000, 1000);
  }
  int Total() const {
    int t = 0;
    for (const auto& [k, v] : values_) t += v + static_cast<int>(k.size());
    return t;
  }

 private:
  std::map<std::string, int> values_;
};

__attribute__((noinline)) int Process(const std::vector<int>& input) {
  Ring<int, 8> ring;
  Registry reg;
  std::vector<int> sorted(input);
  std::sort(sorted.begin(), sorted.end(), [](int a, int b) { return Mix(a) < Mix(b); });
  for (int v : sorted) {
    ring.Push(v);
    reg.Add("k" + std::to_string(v % 17), v);
  }
  std::vector<std::unique_ptr<Shape>> shapes;
  for (int v : input) {
    if (v % 2) {
      shapes.push_back(std::make_unique<Square>(v));
    } else {
      shapes.push_back(std::make_unique<Circle>(v));
    }
  }
  double area = 0;
  for (const auto& s : shapes) area += s->Area();
  auto count_big = [&](double limit) {
    return std::count_if(shapes.begin(), shapes.end(),
                         [limit](const auto& s) { return s->Area() > limit; });
  };
  return ring.Sum() + reg.Total() + static_cast<int>(area) % 1000 +
         static_cast<int>(count_big(100.0));
}

}  // namespace sample

int main(int argc, char** argv) {
  std::vector<int> input;
  for (int i = 0; i < argc * 50; ++i) input.push_back((i * 7919) % 1013);
  try {
    std::printf("%d\n", sample::Process(input));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
  return 0;
}
