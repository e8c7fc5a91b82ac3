// Transitional: the chat template's public header (moving here from src/tokenizer/).
#pragma once
#include "../../src/tokenizer/chat_template.h"
