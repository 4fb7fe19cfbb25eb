// The parameters of one model.layers entry, whatever its type: a small holder with value
// semantics (copies clone, == compares the held structs) so that LayerConfig does not list the
// layer types. Each type declares its parameter struct in its own header
// (src/config/layers/<type>.hpp), with a `kName` for messages; layer.as<LinearConfig>() gives
// it back and throws an InternalError naming both structs when the layer holds another one.
#pragma once
#include <memory>
#include <string>
#include <typeinfo>
#include <utility>

#include "core/error.hpp"

namespace kasmina {

class LayerParams {
 public:
  LayerParams() = default;
  LayerParams(const LayerParams& other) : held_(other.held_ ? other.held_->clone() : nullptr) {}
  LayerParams(LayerParams&&) noexcept = default;
  LayerParams& operator=(const LayerParams& other) {
    if (this != &other) held_ = other.held_ ? other.held_->clone() : nullptr;
    return *this;
  }
  LayerParams& operator=(LayerParams&&) noexcept = default;

  // A holder of `value` (a type's parameter struct).
  template <class T>
  static LayerParams of(T value) {
    LayerParams p;
    p.held_ = std::make_unique<Held<T>>(std::move(value));
    return p;
  }

  bool empty() const { return held_ == nullptr; }
  template <class T>
  bool holds() const {
    return held_ && held_->type() == typeid(T);
  }
  // The name of the held struct ("nothing" when empty), for messages.
  std::string held_name() const { return held_ ? held_->name() : "nothing"; }

  template <class T>
  T& as() {
    check<T>();
    return static_cast<Held<T>&>(*held_).value;
  }
  template <class T>
  const T& as() const {
    check<T>();
    return static_cast<const Held<T>&>(*held_).value;
  }

  friend bool operator==(const LayerParams& a, const LayerParams& b) {
    if (!a.held_ || !b.held_) return !a.held_ && !b.held_;
    return a.held_->equals(*b.held_);
  }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual std::unique_ptr<Base> clone() const = 0;
    virtual bool equals(const Base& other) const = 0;
    virtual const std::type_info& type() const = 0;
    virtual const char* name() const = 0;
  };
  template <class T>
  struct Held final : Base {
    explicit Held(T v) : value(std::move(v)) {}
    std::unique_ptr<Base> clone() const override { return std::make_unique<Held>(value); }
    bool equals(const Base& other) const override {
      return other.type() == typeid(T) && static_cast<const Held&>(other).value == value;
    }
    const std::type_info& type() const override { return typeid(T); }
    const char* name() const override { return T::kName; }
    T value;
  };

  template <class T>
  void check() const {
    if (holds<T>()) return;
    throw InternalError(std::string("layer parameters: asked for ") + T::kName + " but it holds " +
                        held_name());
  }

  std::unique_ptr<Base> held_;
};

}  // namespace kasmina
